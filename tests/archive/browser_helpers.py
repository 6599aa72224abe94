"""Helpers for the archive browser tests: archive messages straight into a folder."""

from __future__ import annotations

from datetime import UTC, datetime

from archive.ingest import FetchedMessage, store_messages
from archive.models import Folder, Message

WHEN = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def archive_raws(
    folder: Folder, raws: list[bytes], flags=("\\Seen",), start: int = 1
) -> list[Message]:
    """Store `raws` in `folder` (UIDs from `start`) through store_messages, in batches."""
    created: list[Message] = []
    batch: list[FetchedMessage] = []
    for uid, raw in enumerate(raws, start=start):
        batch.append(FetchedMessage(uid=uid, raw=raw, flags=list(flags), internal_date=WHEN,
                                    size=len(raw)))  # fmt: skip
        if len(batch) == 200:
            created += store_messages(folder, batch)
            batch = []
    created += store_messages(folder, batch)
    return created
