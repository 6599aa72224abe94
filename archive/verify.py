"""Primitives for "test your backups": check blobs, find rows without bytes and bytes without rows.

Nothing here deletes archived data: a blob that fails verification is reported (and may be
quarantined by the caller), never removed. Only temp files of interrupted writes are cleaned.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from archive.blobstore import BlobBackend, BlobError, get_store
from archive.models import Blob

BATCH = 1000


@dataclass
class BlobProblem:
    sha256: str
    error: str


def verify_blob(sha256: str, store: BlobBackend | None = None) -> str | None:
    """None when the blob reads back with its hash, else the reason it does not."""
    store = store or get_store()
    try:
        store.verify(sha256)
    except BlobError as e:
        return str(e)
    return None


def verify_blobs(
    hashes: Iterable[str] | None = None, store: BlobBackend | None = None
) -> Iterator[BlobProblem]:
    """Re-read every blob (default: every Blob row) and yield the ones that fail."""
    store = store or get_store()
    if hashes is None:
        hashes = Blob.objects.order_by("sha256").values_list("sha256", flat=True).iterator(BATCH)
    for sha in hashes:
        if (error := verify_blob(sha, store)) is not None:
            yield BlobProblem(sha, error)


def rows_without_blobs(store: BlobBackend | None = None) -> Iterator[str]:
    """Blob rows whose bytes are not in the store: messages that cannot be read back."""
    store = store or get_store()
    for sha in Blob.objects.order_by("sha256").values_list("sha256", flat=True).iterator(BATCH):
        if not store.exists(sha):
            yield sha


def blobs_without_rows(store: BlobBackend | None = None) -> Iterator[str]:
    """Blobs in the store with no Blob row (left by a crash before the commit): harmless."""
    store = store or get_store()
    batch: list[str] = []
    for sha in store.iter_hashes():
        batch.append(sha)
        if len(batch) >= BATCH:
            yield from _missing_rows(batch)
            batch = []
    yield from _missing_rows(batch)


def _missing_rows(batch: list[str]) -> list[str]:
    known = set(Blob.objects.filter(sha256__in=batch).values_list("sha256", flat=True))
    return [sha for sha in batch if sha not in known]


def unreferenced_blob_rows() -> Iterator[str]:
    """Blob rows no message points at (every message that used them was removed)."""
    rows = Blob.objects.filter(messages__isnull=True).order_by("sha256")
    yield from rows.values_list("sha256", flat=True).iterator(BATCH)


def remove_stale_temp_files(store: BlobBackend | None = None, older_than: float = 3600) -> int:
    """Delete temp files of blob writes interrupted more than `older_than` seconds ago."""
    store = store or get_store()
    return store.stale_temp_files(older_than, remove=True)
