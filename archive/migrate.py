"""Copy a local archive into object storage (`manage.py migrate_archive --to s3://...`).

Every blob of the local store is read (which verifies it against its hash) and stored in the
bucket through `S3Store.put_many`, which only returns once the object is durable and checked
(see archive/s3store.py), in batches uploaded in parallel. Resumable: a blob already in the
bucket is skipped, so a second run after an interruption copies only what is missing. At the
end every Blob row must have its object in the bucket; only then is it safe to switch
ARCHIVE_URL. The local files are left as they are (delete them once the new store is in use).

A blob that does not read back locally is reported, not copied: run `manage.py verify` on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings

from archive.blobformat import BlobError
from archive.blobstore import BlobStore
from archive.models import Blob
from archive.s3fast import fast_putter
from archive.s3store import S3Store, make_client, parse_s3_url

BATCH = 64


@dataclass
class MigrationReport:
    copied: int = 0
    already_there: int = 0
    bytes_copied: int = 0
    unreadable: list[str] = field(default_factory=list)  # "<sha>: <why>"
    rows_missing: list[str] = field(default_factory=list)  # Blob rows not in the bucket after

    @property
    def complete(self) -> bool:
        return not self.unreadable and not self.rows_missing


def target_store(url: str) -> S3Store:
    """The bucket named by `url`, with the configured credentials and encryption key."""
    bucket, prefix = parse_s3_url(url)
    old = tuple(getattr(settings, "ARCHIVE_OLD_ENCRYPTION_KEYS", ()) or ())
    s3 = getattr(settings, "ARCHIVE_S3", {})
    key = settings.ARCHIVE_ENCRYPTION_KEY or None
    return S3Store(
        bucket, prefix, key, old, client=make_client(**s3), putter=fast_putter(bucket, s3)
    )


def local_store() -> BlobStore:
    old = tuple(getattr(settings, "ARCHIVE_OLD_ENCRYPTION_KEYS", ()) or ())
    return BlobStore(settings.ARCHIVE_ROOT, settings.ARCHIVE_ENCRYPTION_KEY or None, old)


def migrate_archive(
    source: BlobStore, target: S3Store, progress: Callable[[MigrationReport], object] = print
) -> MigrationReport:
    report = MigrationReport()
    batch: list[str] = []
    for sha in source.iter_hashes():
        batch.append(sha)
        if len(batch) >= BATCH:
            _copy_batch(source, target, batch, report)
            progress(report)
            batch = []
    _copy_batch(source, target, batch, report)
    report.rows_missing = [sha for sha in _all_rows() if not target.exists(sha)]
    return report


def _copy_batch(source: BlobStore, target: S3Store, batch: list[str], report) -> None:
    raws = []
    for sha in batch:
        if target.exists(sha):
            report.already_there += 1
            continue
        try:
            raws.append(source.get(sha))
        except BlobError as exc:
            report.unreadable.append(f"{sha}: {exc}")
    stored = target.put_many(raws) if raws else []
    report.copied += len(stored)
    report.bytes_copied += sum(size for _, size in stored)


def _all_rows():
    return Blob.objects.order_by("sha256").values_list("sha256", flat=True).iterator(1000)
