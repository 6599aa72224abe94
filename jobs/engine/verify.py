"""Test your backups: re-read the archive of one account and, online, compare it with the server.

Offline: every blob the account's messages point at is re-read and its hash checked, every
message's blob must exist, and store-wide the blobs without a row and the rows no message points
at are listed (leftovers of interrupted writes or deleted archives; verify only reports them,
the blob cleanup `archive/gc.py` removes them once old enough). Online: per
folder, the server's UIDs and sizes are compared with the archive's, and what the archive lacks
is listed. A UID at or below the folder's cursor that is neither stored nor parked is a gap (the
run fails); one above it is mail newer than the last backup (reported, not a failure).

The report has the shape the job runner records for every kind (state, per-folder reports,
summary). Nothing here changes the archive or the server (EXAMINE only, no bodies fetched).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from archive import verify as checks
from archive.blobstore import BlobBackend, get_store
from archive.models import Blob, Folder, Message, ParkedMessage
from jobs.engine.progress import FolderProgress
from mail import errors

INTEGRITY = "Archive integrity (blob hashes)"
LISTED = 50  # UIDs or hashes named in a report line; the counts are always complete
PROGRESS_EVERY = 200  # blobs between two progress callbacks


@dataclass
class FolderCheck:
    """One folder compared with the server (or the integrity pseudo-folder)."""

    folder: str
    state: str = "done"  # "done" | "failed" | "skipped" | "cancelled"
    on_server: int = 0
    in_archive: int = 0  # of the server's messages, how many the archive holds
    missing: list = field(default_factory=list)  # at or below the cursor: real gaps
    newer: int = 0  # above the cursor: the next backup's work
    size_differs: list[int] = field(default_factory=list)
    parked_seen: int = 0  # parked by the backups (they retry them); not new news
    error: str = ""
    parked = 0  # what the runner counts as "parked by this run": a verification parks nothing


@dataclass
class VerifyReport:
    online: bool
    folders: list[FolderCheck] = field(default_factory=list)
    blobs_checked: int = 0
    bytes_checked: int = 0
    damaged: list[checks.BlobProblem] = field(default_factory=list)
    missing_blobs: list[str] = field(default_factory=list)
    orphan_blobs: list[str] = field(default_factory=list)  # bytes without a row
    unreferenced_rows: list[str] = field(default_factory=list)  # rows without a message
    blobs_total: int = 0
    cancelled: bool = False
    error: str = ""

    # The runner records these for every kind. A verification downloads nothing from the
    # server: its messages and bytes are the stored ones it re-read, as its summary says.
    @property
    def messages_fetched(self) -> int:
        return self.blobs_checked

    @property
    def bytes_fetched(self) -> int:
        return self.bytes_checked

    @property
    def messages_total(self) -> int:
        return self.blobs_total

    @property
    def gaps(self) -> int:
        return sum(len(f.missing) + len(f.size_differs) for f in self.folders)

    @property
    def ok(self) -> bool:
        return not (self.damaged or self.missing_blobs or self.gaps or self.error)

    @property
    def state(self) -> str:
        if self.cancelled:
            return "cancelled"
        return "succeeded" if self.ok else "failed"

    def summary(self) -> str:
        parts = [
            f"{self.blobs_checked:,} stored messages re-read ({_size(self.bytes_checked)}): "
            f"{len(self.damaged)} damaged, {len(self.missing_blobs)} missing"
        ]
        if self.online:
            compared = [f for f in self.folders if f.folder != INTEGRITY]
            lacking = sum(len(f.missing) for f in compared)
            parts.append(f"{len(compared)} folders compared with the server")
            parts.append(f"{lacking:,} messages the archive lacks")
            if differ := sum(len(f.size_differs) for f in compared):
                parts.append(f"{differ:,} differ in size")
            if newer := sum(f.newer for f in compared):
                parts.append(f"{newer:,} newer than the last backup")
        else:
            parts.append("offline (not compared with the server)")
        if self.orphan_blobs or self.unreferenced_rows:
            parts.append(
                f"{len(self.orphan_blobs)} blobs without a row, "
                f"{len(self.unreferenced_rows)} unreferenced (harmless, kept)"
            )
        return "; ".join(parts)


def _noop(*_args) -> None:
    return None


def _never() -> bool:
    return False


def verify_account(
    account,
    *,
    online: bool = True,
    progress: Callable[[FolderProgress], None] = _noop,
    should_stop: Callable[[], bool] = _never,
    log: Callable[[str], None] = _noop,
    store: BlobBackend | None = None,
) -> VerifyReport:
    """Verify `account`'s archive (and, online, compare it with the server)."""
    report = VerifyReport(online=online)
    store = store or get_store()
    report.folders.append(check_blobs(account, report, store, progress, should_stop))
    if report.cancelled:
        return report
    report.orphan_blobs = list(checks.blobs_without_rows(store))
    report.unreferenced_rows = list(checks.unreferenced_blob_rows())
    intact = f"All {report.blobs_checked:,} stored messages read back intact."
    log(report.folders[0].error or intact)
    if online:
        try:
            report.folders += compare_with_server(account, progress, should_stop, log)
        except errors.EngineError as exc:
            report.error = f"Could not compare with the server: {exc}"
            log(report.error)
        report.cancelled = should_stop()
    if not report.ok and not report.error:
        report.error = "Verification found problems: " + _problems(report)
    return report


def _problems(report: VerifyReport) -> str:
    found = [f"{f.folder}: {f.error}" for f in report.folders if f.state == "failed"]
    return "; ".join(found)[:1800]


def check_blobs(account, report: VerifyReport, store, progress, should_stop) -> FolderCheck:
    """Re-read every blob the account's messages point at and check its hash."""
    blobs = Blob.objects.filter(messages__folder__account=account).distinct()
    total = report.blobs_total = blobs.count()
    size = sum(blobs.values_list("size", flat=True).iterator(1000))
    check = FolderCheck(INTEGRITY, on_server=total)
    progress(FolderProgress(INTEGRITY, "running", total=total, total_bytes=size))
    for sha, size in blobs.order_by("sha256").values_list("sha256", "size").iterator(1000):
        if should_stop():
            report.cancelled, check.state = True, "cancelled"
            return check
        if not store.exists(sha):
            report.missing_blobs.append(sha)
        elif (problem := checks.verify_blob(sha, store)) is not None:
            report.damaged.append(checks.BlobProblem(sha, problem))
        report.blobs_checked += 1
        report.bytes_checked += size
        if report.blobs_checked % PROGRESS_EVERY == 0:
            done = _progress(INTEGRITY, report.blobs_checked, total, report.bytes_checked)
            done.total_bytes = size
            progress(done)
    check.in_archive = report.blobs_checked - len(report.missing_blobs) - len(report.damaged)
    problems = []
    if report.damaged:
        damaged = _names(d.sha256 for d in report.damaged)
        problems.append(f"{len(report.damaged)} damaged: {damaged}")
    if report.missing_blobs:
        problems.append(f"{len(report.missing_blobs)} missing: {_names(report.missing_blobs)}")
    if problems:
        check.state = "failed"
        check.error = "Stored messages that do not read back: " + "; ".join(problems)
    done = _progress(INTEGRITY, report.blobs_checked, total, report.bytes_checked, check.state)
    done.error, done.total_bytes = check.error, size
    progress(done)
    return check


def compare_with_server(account, progress, should_stop, log) -> list[FolderCheck]:
    if account.protocol == "pop3":
        return [_compare_pop3(account, progress)]
    from mail.connect import connect_imap
    from mail.imap import ImapSession

    session = ImapSession(connect_imap(account))
    results = []
    try:
        for server in session.list_folders():
            if not server.selectable:
                continue
            if should_stop():
                break
            results.append(_compare_imap_folder(account, session, server, progress))
            log(_line(results[-1]))
    finally:
        session.logout()
    return results


def _compare_imap_folder(account, session, server, progress) -> FolderCheck:
    examined = session.examine(server.raw_name)
    uids = session.search_uids() if examined.exists else []
    sizes = {uid: meta.size for uid, meta in session.fetch_meta(uids).items()} if uids else {}
    folder = Folder.objects.filter(
        account=account, raw_name=server.raw_name, uidvalidity=examined.uidvalidity
    ).first()
    check = FolderCheck(server.name, on_server=len(uids))
    if folder is None:
        check.newer = len(uids)
        check.state = "skipped" if uids else "done"
        if uids:
            check.error = f"Never backed up: the archive lacks all {len(uids):,} messages."
        progress(_progress(server.name, 0, len(uids), 0, check.state, check.error))
        return check
    archived = dict(Message.objects.filter(folder=folder).values_list("uid", "size"))
    parked = set(ParkedMessage.objects.filter(folder=folder).values_list("uid", flat=True))
    _classify(check, uids, sizes, archived, parked, folder.highest_uid)
    progress(_progress(server.name, check.in_archive, len(uids), 0, check.state, check.error))
    return check


def _classify(check: FolderCheck, uids, sizes, archived, parked, cursor: int) -> None:
    for uid in uids:
        if uid in archived:
            check.in_archive += 1
            if uid in sizes and sizes[uid] != archived[uid]:
                check.size_differs.append(uid)
        elif uid in parked:
            check.parked_seen += 1
        elif uid <= cursor:
            check.missing.append(uid)
        else:
            check.newer += 1
    problems = []
    if check.missing:
        missing = check.missing
        problems.append(f"{len(missing):,} on the server but not archived (UIDs {_names(missing)})")
    if differ := check.size_differs:
        problems.append(f"{len(differ):,} differ in size (UIDs {_names(differ)})")
    if problems:
        check.state = "failed"
        check.error = "; ".join(problems)
    elif check.parked_seen:
        check.error = f"{check.parked_seen:,} parked (retried by the next backup)"


def _compare_pop3(account, progress) -> FolderCheck:
    """POP3 has one mailbox and no cursor: what the archive lacks is mail since the last run."""
    from mail import pop3
    from mail.connect import connect_pop3

    client = connect_pop3(account)
    try:
        server, sizes = pop3.uidl(client), pop3.sizes(client)
    finally:
        client.quit()
    folder = Folder.objects.filter(account=account, raw_name="INBOX", uidvalidity=None).first()
    archived = dict(
        Message.objects.filter(folder=folder).values_list("pop3_uidl", "size") if folder else ()
    )
    check = FolderCheck("INBOX", on_server=len(server))
    for uidl, number in server.items():
        if uidl not in archived:
            check.newer += 1
            continue
        check.in_archive += 1
        if sizes.get(number) not in (None, archived[uidl]):
            check.size_differs.append(number)
    if check.size_differs:
        check.state = "failed"
        numbers = _names(check.size_differs)
        check.error = f"{len(check.size_differs)} differ in size (message numbers {numbers})"
    elif check.newer:
        check.error = (
            f"{check.newer:,} on the server are not archived yet (newer than the last run)"
        )
    progress(_progress("INBOX", check.in_archive, len(server), 0, check.state, check.error))
    return check


def _progress(name: str, done: int, total: int, size: int, state: str = "running", error=""):
    # The error travels with the last progress too: the recorder writes progress last.
    return FolderProgress(name, state, total=total, done=done, bytes=size, error=error)


def _line(check: FolderCheck) -> str:
    text = f"{check.folder}: {check.in_archive:,} of {check.on_server:,} on the server archived"
    if check.newer:
        text += f", {check.newer:,} newer than the last backup"
    return f"{text}. {check.error}".strip()


def _names(items) -> str:
    items = [str(i) for i in items]
    shown = ", ".join(items[:LISTED])
    return shown + (f" and {len(items) - LISTED:,} more" if len(items) > LISTED else "")


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} TB"
