"""Batches of messages bounded by bytes: what one FETCH or one APPEND round carries."""

from __future__ import annotations

from collections.abc import Iterator


def batches_by_bytes(sizes: dict[int, int], limit: int) -> Iterator[list[int]]:
    """UIDs in ascending order, grouped so each group's bytes stay under `limit`.

    A message bigger than the limit travels alone."""
    batch: list[int] = []
    total = 0
    for uid in sorted(sizes):
        size = sizes[uid]
        if batch and total + size > limit:
            yield batch
            batch, total = [], 0
        batch.append(uid)
        total += size
    if batch:
        yield batch
