"""Back up one account into the archive: the engine entry point behind the UI, scheduler and CLI.

`backup_account` lists the folders (one round trip where the server has LIST-STATUS), skips the
ones whose state proves them unchanged, and backs up the rest in parallel, one connection per
folder, at most `account.max_connections` at once. Each worker thread reconnects with backoff
when its connection drops and resumes the folder from its last committed batch. The run ends
with a reconciliation per folder.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import queue
import threading
from collections.abc import Callable

from django.conf import settings
from django.db import connection

from archive import folder_state as state
from archive.blobstore import BlobBackend, get_store
from jobs.engine import parallel, reconnect
from jobs.engine.backup import alarm
from jobs.engine.backup.folder import Context, FolderBackup
from jobs.engine.backup.report import BackupOptions, BackupReport, FolderReport, reconcile
from jobs.engine.drops import Cancelled, Suspects, is_connection_error, sentence
from jobs.engine.limits import Budget, BudgetExhausted, Throttle
from jobs.engine.progress import FolderProgress
from mail import errors
from mail.imap import ImapSession, ServerFolder

__all__ = [
    "BackupOptions",
    "BackupReport",
    "FolderProgress",
    "FolderReport",
    "backup_account",
]

logger = logging.getLogger(__name__)

SKIPPED_SPECIAL_USE = ("\\Trash", "\\Junk")
# Folder workers run as processes (one per core, under the connection cap) when the folders to
# back up hold at least this many messages; below it, threads (see processes.py).
PROCESS_THRESHOLD = 2000  # messages to fetch; settings.BACKUP_PROCESS_THRESHOLD overrides
PROCESSES = os.cpu_count() or 1


def _work_size(folder: ServerFolder) -> tuple[int, int]:
    """Bytes where the server tells them (STATUS=SIZE), then messages: what a folder costs."""
    status = folder.status
    return (status.size or 0, status.messages) if status else (0, 0)


def _noop(*_args) -> None:
    return None


def _never() -> bool:
    return False


def backup_account(
    account,
    options: BackupOptions | None = None,
    *,
    progress: Callable[[FolderProgress], None] = _noop,
    should_stop: Callable[[], bool] = _never,
    log: Callable[[str], None] = _noop,
    store: BlobBackend | None = None,
) -> BackupReport:
    """Back up every selected folder of `account` into `store` (default: the configured blob
    store); see the module docstring.

    Raises errors.PermanentError (e.g. AuthenticationFailed) when retrying cannot help, and
    errors.TransientError when the server stays unreachable after our own retries.
    """
    options = options or BackupOptions()
    if account.protocol == "pop3":
        from jobs.engine.backup.pop3 import backup_pop3

        return backup_pop3(
            account, options, progress=progress, should_stop=should_stop, log=log, store=store
        )
    run = BackupRun(account, options, progress, should_stop, log, store=store)
    return run.execute()


class BackupRun(reconnect.ReconnectingRun):
    def __init__(self, account, options, progress, should_stop, log, store=None):
        lock = threading.Lock()

        def locked_progress(p: FolderProgress) -> None:
            with lock:  # the callback may come from several worker threads
                progress(p)

        self.halt = threading.Event()  # budget spent or cancelled: every worker stops
        self.halt_reason = ""
        budget_mb = getattr(account, "daily_budget_mb", None)
        self.ctx = Context(
            account=account,
            options=options,
            progress=locked_progress,
            should_stop=lambda: self.halt.is_set() or should_stop(),
            log=log,
            store=store or get_store(),
            budget=Budget(
                budget_mb * 1024 * 1024 if budget_mb else None,
                state.bytes_downloaded_today(account) if budget_mb else 0,
            ),
        )
        self.throttle = Throttle(getattr(account, "bandwidth_limit", None))
        self.reports: dict[str, FolderReport] = {}
        self.fatal: BaseException | None = None
        self.unreachable: set[str] = set()  # folders given up because the server was gone
        self.missing: list[str] = []  # folders asked for by name that the server lacks
        # Messages per folder as LIST-STATUS or STATUS told them: a folder the run never
        # reached (cancelled, paused) still counts what the server holds.
        self.counts: dict[str, int] = {}
        # Per folder: UIDs in flight when its connection broke, kept across its reconnects.
        self.suspects: dict[str, Suspects] = {}
        # Per folder: its latest attempt, which the next one (after a reconnect) counts on from.
        self.attempts: dict[str, FolderBackup] = {}
        # For the mass-deletion alarm: messages on the server at the last run, folders gone
        # since, and the messages those held.
        self.before = 0
        self.folders_gone: list[str] = []
        self.gone_counts: dict[str, int] = {}

    # -- the run ---------------------------------------------------------------------------

    def execute(self) -> BackupReport:
        session = self.connect_with_retry()
        try:
            listed = session.list_folders()
            self.mark_gone(listed)
            chosen = self.select(listed)
            self.counts = {f.raw_name: f.status.messages for f in chosen if f.status}
            self.missing = sorted(set(self.ctx.options.folders or ()) - {f.name for f in listed})
            work = [f for f in chosen if not self.unchanged(session, f)]
        except Exception as exc:
            if is_connection_error(exc):
                raise errors.ConnectionDropped(
                    f"The connection broke while listing: {exc}"
                ) from exc
            raise
        finally:
            session.logout()
        for folder in work:
            self.ctx.progress(FolderProgress(folder.name, "pending"))
        self.run_parallel(work)
        if self.fatal is not None:
            raise self.fatal
        return self.build_report(chosen)

    def mark_gone(self, listed: list[ServerFolder]) -> None:
        account = self.ctx.account
        self.before = sum(state.live_messages(account).values())
        self.folders_gone = state.mark_gone_folders(account, [f.raw_name for f in listed])
        self.gone_counts = state.live_messages(account, self.folders_gone)

    def connect(self) -> ImapSession:
        from mail.connect import connect_imap

        client = connect_imap(self.ctx.account)
        return ImapSession(client, on_bytes=self.throttle.consume)

    def connect_with_retry(self) -> ImapSession:
        return reconnect.connect_with_retry(self.connect, self.ctx.log)

    def select(self, listed: list[ServerFolder]) -> list[ServerFolder]:
        opts = self.ctx.options
        chosen = []
        for folder in listed:
            if not folder.selectable:
                continue
            if opts.folders is not None and folder.name not in opts.folders:
                continue
            if opts.include and not any(fnmatch.fnmatchcase(folder.name, p) for p in opts.include):
                continue
            if any(fnmatch.fnmatchcase(folder.name, p) for p in opts.exclude):
                continue
            if opts.skip_trash_and_junk and folder.special_use in SKIPPED_SPECIAL_USE:
                continue
            chosen.append(folder)
        return chosen

    def unchanged(self, session: ImapSession, server: ServerFolder) -> bool:
        """One round trip at most: the LIST-STATUS answer, or one STATUS."""
        if not session.condstore:
            return False  # without HIGHESTMODSEQ only a sweep can see flag changes
        row = state.current_folder(self.ctx.account, server.raw_name)
        if row is None or row.last_synced_at is None:
            return False
        status = server.status or session.status(server.raw_name)
        self.counts[server.raw_name] = status.messages
        if not state.is_unchanged(row, status):
            return False
        self.reports[server.raw_name] = reconcile(row, status.messages, 0)
        self.ctx.progress(FolderProgress(server.name, "done"))
        return True

    # -- workers ---------------------------------------------------------------------------

    def run_parallel(self, work: list[ServerFolder]) -> None:
        if not work:
            return
        # Biggest folders first: a big INBOX taken last would leave the other workers idle
        # while one connection works through it alone.
        work = sorted(work, key=_work_size, reverse=True)
        processes = self.processes_for(work)
        if processes > 1:
            from jobs.engine.backup.processes import run_in_processes

            self.ctx.log(f"{len(work)} folders in {processes} worker processes")
            return run_in_processes(self, work, processes)
        parallel.drain(self.worker, work, self.cap(), "backup")

    def processes_for(self, work: list[ServerFolder]) -> int:
        """Processes only pay off for large backups on several cores, and the daily budget
        and bandwidth cap are kept by one process."""
        account = self.ctx.account
        if account.pk is None or self.ctx.budget.limit is not None or self.throttle.rate:
            return 1
        size = sum(f.status.messages if f.status else 0 for f in work)
        threshold = getattr(settings, "BACKUP_PROCESS_THRESHOLD", None) or PROCESS_THRESHOLD
        if size < threshold or not PROCESSES:
            return 1
        return min(self.cap(), PROCESSES, len(work))

    def cap(self) -> int:
        return max(1, int(getattr(self.ctx.account, "max_connections", 4) or 4))

    def worker(self, todo: queue.Queue[ServerFolder]) -> None:
        holder: dict[str, ImapSession | None] = {"conn": None}
        try:
            while not self.halt.is_set():
                try:
                    server = todo.get_nowait()
                except queue.Empty:
                    return
                self.reports[server.raw_name] = self.backup_folder(server, holder)
        finally:
            if holder["conn"] is not None:
                holder["conn"].logout()
            connection.close()  # Django opens one connection per thread

    def backup_folder(self, server: ServerFolder, holder: dict) -> FolderReport:
        """One folder, reconnecting with backoff when the connection drops."""
        return self.with_reconnect(server, server.name, holder)

    def drop(self, session: ImapSession | None) -> None:
        return _drop_session(session)

    def made_progress(self, server: ServerFolder) -> bool:
        suspects = self.suspects.get(server.raw_name)
        return suspects is not None and suspects.take_progress()

    def attempt(self, server: ServerFolder, session: ImapSession) -> FolderReport:
        suspects = self.suspects.setdefault(server.raw_name, Suspects())
        backup = FolderBackup(session, server, self.ctx, suspects)
        backup.resume_from(self.attempts.get(server.raw_name))
        self.attempts[server.raw_name] = backup
        try:
            report = backup.run()
        except Cancelled:
            return self.halted(server, backup, "cancelled")
        except BudgetExhausted as exc:
            self.halt_reason = self.halt_reason or "paused"
            self.halt.set()
            self.ctx.log(f"{server.name}: {exc}; the next run continues")
            return self.halted(server, backup, "paused")
        self.ctx.progress(folder_outcome(report, backup.progress.total_bytes))
        return report

    def halted(self, server: ServerFolder, backup: FolderBackup, how: str) -> FolderReport:
        p = backup.progress
        self.ctx.progress(
            FolderProgress(server.name, how, p.total, p.done, p.bytes, total_bytes=p.total_bytes)
        )
        if backup.folder is None:
            return FolderReport(server.name, how)
        report = reconcile(backup.folder, 0, backup.fetched, p.bytes)
        on_server = backup.exists if backup.exists is not None else self.counts.get(server.raw_name)
        report.state, report.on_server = how, report.in_archive if on_server is None else on_server
        report.vanished, report.flags_changed = backup.vanished, backup.flags_changed
        return report

    def stop_all(self, exc: errors.PermanentError, server: ServerFolder) -> FolderReport:
        self.fatal = self.fatal or exc
        self.halt.set()
        return FolderReport(server.name, "failed", error=str(exc))

    def failed(self, server: ServerFolder, exc: BaseException, unreachable=False) -> FolderReport:
        message = sentence(exc)
        if not unreachable:
            logger.exception("backup of folder %s failed", server.name)
        self.ctx.log(f"{server.name}: failed: {message}")
        self.ctx.progress(FolderProgress(server.name, "failed", error=message))
        row = state.current_folder(self.ctx.account, server.raw_name)
        report = reconcile(row, 0, 0) if row else FolderReport(server.name, "failed")
        report.state, report.error, report.folder = "failed", message, server.name
        if unreachable:
            self.unreachable.add(server.name)
        return report

    # -- the outcome -----------------------------------------------------------------------

    def build_report(self, chosen: list[ServerFolder]) -> BackupReport:
        reports = [self.reports[f.raw_name] for f in chosen if f.raw_name in self.reports]
        unreached = [f for f in chosen if f.raw_name not in self.reports]
        self.count_on_server([f for f in unreached if f.raw_name not in self.counts])
        reports += [self.unreached(f) for f in unreached]
        for name in self.missing:  # asked for by name, but the server has no such folder
            reports.append(FolderReport(name, "failed", error="the server has no such folder"))
        failed = [r for r in reports if r.state == "failed"]
        if reports and all(r.folder in self.unreachable for r in reports):
            raise errors.TransientError(f"The server stayed unreachable: {failed[0].error}")
        report = BackupReport(
            state=self.overall(reports, failed),
            folders=reports,
            messages_fetched=sum(r.fetched for r in reports),
            bytes_fetched=sum(r.bytes for r in reports),
        )
        problems = [f"{r.folder}: {r.error}" for r in failed] + [
            f"{r.folder}: {r.parked} parked (UIDs {', '.join(map(str, r.parked_uids[:10]))})"
            for r in reports
            if r.parked
        ]
        report.error = "; ".join(problems)[:2000]
        self.raise_alarm(report)
        return report

    def raise_alarm(self, report: BackupReport) -> None:
        """Count what vanished from the server in this run, and warn when it is a lot."""
        # A folder renamed on the server looked gone at the listing; its pass followed it.
        still_gone = state.gone_folder_names(self.ctx.account)
        report.folders_gone = [name for name in self.folders_gone if name in still_gone]
        report.vanished = alarm.vanished_per_folder(
            report.folders, self.gone_counts, report.folders_gone
        )
        limits = alarm.Thresholds.of(self.ctx.account)
        report.flags_changed = {
            r.folder: r.flags_changed for r in report.folders if r.flags_changed
        }
        report.warning = alarm.warning(
            report.vanished, report.folders_gone, report.flags_changed, self.before, limits
        )
        if report.warning:
            self.ctx.log(report.warning)

    def count_on_server(self, folders: list[ServerFolder]) -> None:
        """STATUS for the folders never reached whose count no LIST-STATUS gave."""
        if not folders:
            return
        try:
            session = self.connect()
            try:
                for folder in folders:
                    self.counts[folder.raw_name] = session.status(folder.raw_name).messages
            finally:
                session.logout()
        except Exception as exc:  # noqa: BLE001 - the counts stay unknown, the outcome stands
            self.ctx.log(f"Could not count the folders not reached: {sentence(exc)}")

    def unreached(self, server: ServerFolder) -> FolderReport:
        """A folder halted before its turn: what the server holds, what the archive has."""
        how = self.halt_reason or "cancelled"
        on_server = self.counts.get(server.raw_name, 0)
        row = state.current_folder(self.ctx.account, server.raw_name)
        report = reconcile(row, on_server, 0) if row else FolderReport(server.name, how)
        report.state, report.folder, report.on_server = how, server.name, on_server
        # Its row: what was still to fetch (the folder's size only when none of it is archived).
        due = max(on_server - report.in_archive, 0)
        size = (server.status.size or 0) if server.status and not report.in_archive else 0
        self.ctx.progress(FolderProgress(server.name, how, due, 0, total_bytes=size))
        return report

    def overall(self, reports: list[FolderReport], failed: list[FolderReport]) -> str:
        if self.halt_reason == "paused":
            return "paused"
        if any(r.state == "cancelled" for r in reports):
            return "cancelled"
        if failed:
            return "failed" if len(failed) == len(reports) else "partial"
        if any(r.parked for r in reports):
            return "partial"  # the rest is in; the parked UIDs are retried next run
        return "succeeded"


def folder_outcome(report: FolderReport, total_bytes: int = 0) -> FolderProgress:
    """A finished folder's last progress. Parked messages were to be fetched too: "611 of
    2,000, 1,389 parked" rather than a full bar of 611 / 611."""
    fetched, parked = report.fetched, report.parked
    if not parked:
        return FolderProgress(
            report.folder, "done", fetched, fetched, report.bytes, "", report.bytes
        )
    note = f"{parked:,} parked (retried next run)"
    total_bytes = max(total_bytes, report.bytes)
    return FolderProgress(
        report.folder, "partial", fetched + parked, fetched, report.bytes, note, total_bytes
    )


def _drop_session(session: ImapSession | None) -> None:
    if session is not None:
        try:
            session.client.shutdown()
        except Exception:  # noqa: BLE001 - it is already broken
            pass
    return None
