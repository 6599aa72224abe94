"""Garbage collection of the blob store: give back the space of blobs no message uses any more.

Blobs are shared (the same bytes in two folders or accounts are stored once), so deleting an
archive deletes its Message rows and leaves the Blob rows and files: this module removes the
ones nothing points at. `collect_garbage()` backs `manage.py gc_blobs`, the hourly run of the
jobs housekeeping and the run queued after an account is deleted with its archive.

What is removed, and when
- A Blob row no Message references (Message is the only model that points at a blob: sync,
  restore, import and export rows point at messages or accounts), whose row and file are both
  older than BLOB_GC_GRACE_HOURS. The grace covers a backup that wrote a blob and has not yet
  committed the row or message pointing at it.
- A blob file with no Blob row (a crash between the blob write and the commit), older than the
  grace; `.tmp-*` files of interrupted writes via `archive.verify.remove_stale_temp_files`.
- Never anything in quarantine/, and never a blob that fails verification: every candidate is
  re-read first; a damaged one is quarantined (SECURITY.md), one sealed with a key this
  process lacks is left alone.

How a blob is removed, and why it is safe against a concurrent ingest
1. The Blob row goes with one conditional statement, `DELETE ... WHERE sha256 IN (...) AND
   created_at < cutoff AND NOT EXISTS (a message pointing at it) RETURNING sha256`, in a
   transaction; only the rows it returns are touched further. The created_at test spares a
   row an ingest re-inserted meanwhile (a new row gets created_at = now). On SQLite the
   transaction holds the one write lock (BEGIN IMMEDIATE), so no message can be committed
   between the test and the delete. On PostgreSQL the database's own foreign key (deferred,
   checked at commit) makes our commit fail if a message pointing at the row committed after
   our NOT EXISTS was evaluated: the batch is then kept whole. An ingest that found the row
   (its `INSERT ... ON CONFLICT DO NOTHING` skipped it) and commits its messages after our
   commit fails its own commit the same way, so its batch rolls back and is retried, and the
   retry writes the file again (it is no longer in the store).
2. Inside that transaction, before the commit, the file is moved (renamed) into
   `<ARCHIVE_ROOT>/gc-held/` (in object storage: copied to `<prefix>gc-held/`, then deleted),
   not deleted; if the transaction fails it is moved back. A crash
   between the rename and the commit leaves a held file whose row still exists: step 3 puts it
   back.
3. Every run first looks at the held files: one whose hash has a Blob row again is put back
   in the store (logged as a warning); one with no row that was set aside HOLD_SECONDS ago or
   more is deleted, and only then is its space freed.

The race with an ingest that found a blob stored (`put_many` then skips writing its bytes)
before this collector removed it: inside its transaction the ingest checks that every blob of
its batch is still in the store (`archive.ingest._check_still_stored`, after locking the rows on
PostgreSQL; SQLite's write lock already keeps us out) and fails the batch otherwise; the retry
writes the bytes again. Because step 2 moves the file before our commit, a row we are removing
never passes that check. Step 3 remains the safety net for a crash between the rename and
the commit.

The store is the collector's one collaborator for the files (`collect_garbage(store=...)`), a
local folder or a bucket alike: it judges a candidate with `store.modified_at` and
`store.verify` and sets a blob aside with `store.hold` (`move_out` in the local store), so a
test can run a concurrent ingest at exactly those steps.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, fields
from datetime import UTC, datetime

from django.conf import settings
from django.db import DatabaseError, connection, transaction

import audit
from archive.blobstore import HASH_RE, HELD_DIR, BlobBackend, BlobError, BlobKeyError, BlobMissing
from archive.blobstore import get_store as default_store
from archive.models import Blob, Message

log = logging.getLogger(__name__)

__all__ = ["HELD_DIR", "GcReport", "collect_garbage", "collect_if_due"]
# How long a removed blob's file is kept aside before it is deleted (see the module docstring).
HOLD_SECONDS = 3600
# The housekeeping (every minute) collects at most this often: a run lists the whole store.
INTERVAL_SECONDS = 3600
TEMP_AGE_SECONDS = 3600  # remove_stale_temp_files' own default
BATCH = 500

GOOD, DAMAGED, MISSING, YOUNG, UNREADABLE = "good", "damaged", "missing", "young", "unreadable"


@dataclass
class GcReport:
    dry_run: bool = False
    rows_removed: int = 0  # unreferenced Blob rows deleted (their files set aside)
    orphans_removed: int = 0  # files without a Blob row set aside
    bytes_removed: int = 0  # on disk, of the files set aside by this run
    purged: int = 0  # held files deleted (set aside HOLD_SECONDS ago or more)
    bytes_freed: int = 0  # disk space given back by this run
    restored: int = 0  # held files put back: their hash has a row again
    quarantined: int = 0  # candidates that failed verification: moved aside, never deleted
    kept_young: int = 0  # unreferenced, but inside the grace period
    unreadable: int = 0  # sealed with a key this process lacks: left alone
    temp_files: int = 0  # stale `.tmp-*` files of interrupted writes

    def counts(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "dry_run"}

    @property
    def changed(self) -> bool:
        """Whether this run moved or deleted anything (what the audit log records)."""
        done = ("rows_removed", "orphans_removed", "purged", "restored", "quarantined")
        return not self.dry_run and any(getattr(self, name) for name in (*done, "temp_files"))

    def summary(self) -> str:
        would = "would be " if self.dry_run else ""
        lines = [
            f"{self.rows_removed} unreferenced blobs and {self.orphans_removed} blob files "
            f"without a row {would}removed from the store ({_size(self.bytes_removed)}; "
            f"the files are deleted {HOLD_SECONDS // 60} minutes later)",
            f"{self.purged} held files {would}deleted: {_size(self.bytes_freed)} {would}freed",
            f"{self.kept_young} unreferenced blobs kept: younger than "
            f"{settings.BLOB_GC_GRACE_HOURS} h",
        ]
        extra = {
            "restored (referenced again)": self.restored,
            "quarantined (failed verification)": self.quarantined,
            "left alone (encrypted with a key not configured)": self.unreadable,
            "stale temporary files removed": self.temp_files,
        }
        lines += [f"{n} {what}" for what, n in extra.items() if n]
        return "\n".join(lines)


def collect_garbage(
    *, dry_run: bool = False, now: float | None = None, store: BlobBackend | None = None, actor=None
) -> GcReport:
    """Remove unreferenced blobs older than the grace period (see the module docstring)."""
    store = store or default_store()
    now = time.time() if now is None else now
    report = GcReport(dry_run=dry_run)
    if not store.present():
        return report  # no store here (or its volume is not mounted): nothing to judge
    cutoff = now - settings.BLOB_GC_GRACE_HOURS * 3600
    _handle_held(store, now, report)  # first: nothing set aside by this run is purged by it
    _collect_rows(store, cutoff, now, report)
    _collect_orphans(store, cutoff, now, report)
    report.temp_files = _stale_temps(store, dry_run)
    log.info("blob gc%s: %s", " (dry run)" if dry_run else "", report.counts())
    if report.changed:
        audit.record(actor, "archive.gc", None, **report.counts())
    return report


def collect_if_due(now: float | None = None, store: BlobBackend | None = None) -> GcReport | None:
    """The housekeeping's call: collect when the last run is INTERVAL_SECONDS old."""
    store = store or default_store()
    now = time.time() if now is None else now
    if not store.present() or not store.claim_gc_run(now, INTERVAL_SECONDS):
        return None
    return collect_garbage(now=now, store=store)


# -- unreferenced rows ------------------------------------------------------------------------


def _collect_rows(store: BlobBackend, cutoff: float, now: float, report: GcReport) -> None:
    when = datetime.fromtimestamp(cutoff, UTC)
    unreferenced = Blob.objects.filter(messages__isnull=True)
    report.kept_young += unreferenced.filter(created_at__gte=when).count()
    candidates = unreferenced.filter(created_at__lt=when).order_by("sha256")
    hashes = candidates.values_list("sha256", flat=True)
    last = ""  # keyset pages: rows are deleted as we go
    while batch := list(hashes.filter(sha256__gt=last)[:BATCH]):
        last = batch[-1]
        verdicts = {sha: _judge(store, sha, cutoff) for sha in batch}
        _tally_skipped(verdicts, report)
        wanted = {sha: v for sha, v in verdicts.items() if v in (GOOD, DAMAGED, MISSING)}
        if report.dry_run:
            gone = list(wanted)
            report.bytes_removed += sum(_file_size(store, s) for s in gone if wanted[s] == GOOD)
        else:
            gone = _delete_rows(store, wanted, when, now, report)
        report.rows_removed += sum(1 for s in gone if wanted[s] != DAMAGED)
        report.quarantined += sum(1 for s in gone if wanted[s] == DAMAGED)


def _delete_rows(
    store: BlobBackend, wanted: dict[str, str], when: datetime, now: float, report: GcReport
) -> list[str]:
    """Delete the rows still unreferenced and set their files aside, in one transaction."""
    moved: dict[str, int] = {}
    try:
        with transaction.atomic():
            gone = _delete_unreferenced(list(wanted), when)
            for sha in gone:
                if wanted[sha] == DAMAGED:
                    store.quarantine(sha)  # kept, never deleted; the row no longer claims it
                elif wanted[sha] == GOOD and (size := _set_aside(store, sha, now)) is not None:
                    moved[sha] = size
    except Exception as exc:
        for sha in moved:  # the rows are back: so are their files
            _put_back(store, sha)
        if not isinstance(exc, DatabaseError):
            raise
        # On PostgreSQL: a message was committed against one of these rows meanwhile.
        log.warning("blob gc: a batch was referenced meanwhile; kept it", exc_info=True)
        return []
    report.bytes_removed += sum(moved.values())
    return gone


def _delete_unreferenced(hashes: list[str], created_before: datetime) -> list[str]:
    if not hashes:
        return []
    q = connection.ops.quote_name
    blob, message = q(Blob._meta.db_table), q(Message._meta.db_table)
    blob_fk = f"{message}.{q(Message._meta.get_field('blob').column)}"
    marks = ", ".join(["%s"] * len(hashes))
    sql = (
        f"DELETE FROM {blob} WHERE {blob}.{q('sha256')} IN ({marks})"
        f" AND {blob}.{q('created_at')} < %s"
        f" AND NOT EXISTS (SELECT 1 FROM {message} WHERE {blob_fk} = {blob}.{q('sha256')})"
        f" RETURNING {q('sha256')}"
    )
    cutoff = connection.ops.adapt_datetimefield_value(created_before)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*hashes, cutoff])
        return [row[0] for row in cursor.fetchall()]


# -- files without a row ----------------------------------------------------------------------


def _collect_orphans(store: BlobBackend, cutoff: float, now: float, report: GcReport) -> None:
    batch: list[str] = []
    for name in store.iter_hashes():
        if HASH_RE.fullmatch(name):
            batch.append(name)
        if len(batch) >= BATCH:
            _collect_orphan_batch(store, batch, cutoff, now, report)
            batch = []
    _collect_orphan_batch(store, batch, cutoff, now, report)


def _collect_orphan_batch(
    store: BlobBackend, batch: list[str], cutoff: float, now: float, report: GcReport
) -> None:
    known = set(Blob.objects.filter(sha256__in=batch).values_list("sha256", flat=True))
    verdicts = {sha: _judge(store, sha, cutoff) for sha in batch if sha not in known}
    _tally_skipped(verdicts, report)
    for sha, verdict in verdicts.items():
        if verdict == GOOD:
            dry = report.dry_run
            size = _file_size(store, sha) if dry else _set_orphan_aside(store, sha, now)
            if size is not None:
                report.orphans_removed += 1
                report.bytes_removed += size
        elif verdict == DAMAGED:
            if report.dry_run or (_still_orphan(sha) and store.quarantine(sha) is not None):
                report.quarantined += 1


def _still_orphan(sha: str) -> bool:
    # An ingest may have committed a row for these bytes since the batch was listed.
    return not Blob.objects.filter(sha256=sha).exists()


def _set_orphan_aside(store: BlobBackend, sha: str, now: float) -> int | None:
    return _set_aside(store, sha, now) if _still_orphan(sha) else None


# -- held files -------------------------------------------------------------------------------


def _handle_held(store: BlobBackend, now: float, report: GcReport) -> None:
    """Put back held blobs whose hash has a row again; delete the others once held long enough."""
    batch: list[tuple[str, float, int]] = []
    for item in store.held():
        batch.append(item)
        if len(batch) >= BATCH:
            _handle_held_batch(store, batch, now, report)
            batch = []
    _handle_held_batch(store, batch, now, report)


def _handle_held_batch(
    store: BlobBackend, batch: list[tuple[str, float, int]], now: float, report: GcReport
) -> None:
    hashes = [sha for sha, _, _ in batch]
    rows = set(Blob.objects.filter(sha256__in=hashes).values_list("sha256", flat=True))
    for sha, held_at, size in batch:
        if sha in rows:
            report.restored += 1
            if not report.dry_run:
                _restore(store, sha)
        elif held_at <= now - HOLD_SECONDS:
            report.purged += 1
            report.bytes_freed += size
            if not report.dry_run:
                store.drop_held(sha)


def _restore(store: BlobBackend, sha: str) -> None:
    log.warning("blob gc: blob %s is referenced again; putting its held file back", sha)
    if store.exists(sha):
        store.drop_held(sha)  # the ingest wrote it again
    else:
        store.unhold(sha)


# -- helpers ----------------------------------------------------------------------------------


def _judge(store: BlobBackend, sha: str, cutoff: float) -> str:
    """Whether a candidate may go: its file is old enough and reads back with its hash."""
    try:
        if store.modified_at(sha) >= cutoff:
            return YOUNG
        store.verify(sha)
    except BlobMissing:
        return MISSING
    except BlobKeyError:
        return UNREADABLE
    except BlobError:
        return DAMAGED
    return GOOD


def _tally_skipped(verdicts: dict[str, str], report: GcReport) -> None:
    report.kept_young += sum(1 for v in verdicts.values() if v == YOUNG)
    report.unreadable += sum(1 for v in verdicts.values() if v == UNREADABLE)


def _set_aside(store: BlobBackend, sha: str, now: float) -> int | None:
    """Move a blob into the held area, stamped with the time it left; its size, or None if it
    was not there."""
    return store.hold(sha, now)


def _put_back(store: BlobBackend, sha: str) -> None:
    store.unhold(sha)


def _file_size(store: BlobBackend, sha: str) -> int:
    try:
        return store.stored_size(sha)
    except BlobMissing:
        return 0


def _stale_temps(store: BlobBackend, dry_run: bool) -> int:
    return store.stale_temp_files(TEMP_AGE_SECONDS, remove=not dry_run)


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    for unit in ("KB", "MB", "GB"):
        n /= 1024
        if n < 1024 or unit == "GB":
            break
    return f"{n:.1f} {unit}"
