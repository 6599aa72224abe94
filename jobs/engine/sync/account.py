"""Sync (migrate) one IMAP account into another: the engine entry point behind jobs and the CLI.

`sync_accounts` logs in on both sides, plans the folder mapping (`plan.py`), then syncs the
folders in parallel, one source and one destination connection per worker, at most the smaller
of the two accounts' connection caps at once (`folder.py` does one folder). With Gmail
de-duplication the folders go in rank order (labels before All Mail), so each message lands in
its most specific folder. A dropped connection is retried with backoff and the folder resumes
from the UID map; a full destination quota stops the run with a clear message. The source is
only ever EXAMINEd and read with BODY.PEEK[].

Connecting and planning the folders live in `plan.py`, the pre-flight in `preflight.py`.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from django.db import connection

from jobs.engine import parallel, reconnect
from jobs.engine.copying.destination import Destination, QuotaExceeded
from jobs.engine.copying.mapping import FolderMap
from jobs.engine.copying.report import SyncFolderReport, SyncOptions, SyncReport
from jobs.engine.drops import Cancelled, sentence
from jobs.engine.progress import FolderProgress
from jobs.engine.sizes import size_text
from jobs.engine.sync import plan
from jobs.engine.sync import state as syncstate
from jobs.engine.sync.folder import FolderSync, SyncContext
from mail import errors
from mail.imap import ImapSession

__all__ = ["SyncOptions", "SyncReport", "sync_accounts"]

logger = logging.getLogger(__name__)


def _noop(*_args) -> None:
    return None


def _never() -> bool:
    return False


def sync_accounts(
    source,
    destination,
    options: SyncOptions | None = None,
    *,
    progress: Callable[[FolderProgress], None] = _noop,
    should_stop: Callable[[], bool] = _never,
    log: Callable[[str], None] = _noop,
) -> SyncReport:
    """Copy what is new from `source` to `destination` (accounts); see the module docstring.

    Raises errors.PermanentError (a login refused, QuotaExceeded) and errors.TransientError
    (a server unreachable after our retries)."""
    if source.pk is not None and source.pk == destination.pk:
        raise errors.PermanentError("The source and the destination are the same account.")
    return _SyncRun(
        source, destination, options or SyncOptions(), progress, should_stop, log
    ).execute()


class _SyncRun(reconnect.ReconnectingRun):
    def __init__(self, source, destination, options, progress, should_stop, log):
        lock = threading.Lock()

        def locked_progress(p: FolderProgress) -> None:
            with lock:
                progress(p)

        self.halt = threading.Event()
        self.ctx = SyncContext(
            pair=syncstate.Pair(source, destination),
            options=options,
            progress=locked_progress,
            should_stop=lambda: self.halt.is_set() or should_stop(),
            log=log,
        )
        self.reports: dict[str, SyncFolderReport] = {}
        self.fatal: BaseException | None = None
        self.unreachable: set[str] = set()

    def execute(self) -> SyncReport:
        source, dest = self.connect_with_retry()
        try:
            maps, _, _ = plan.plan_folders(source, dest, self.ctx.options)
            if not self.ctx.options.dry_run:
                self.check_quota(source, dest, [m for m in maps if not m.skip])
        finally:
            source.logout()
            dest.logout()
        work = [m for m in maps if not m.skip]
        for entry in maps:
            if entry.skip:  # a folder left out to avoid a merge is a problem to fix: "failed"
                self.reports[entry.source.raw_name] = SyncFolderReport(
                    entry.source.name,
                    state="failed" if entry.merged else "skipped",
                    error=entry.skip,
                )
        for entry in work:
            self.ctx.progress(FolderProgress(entry.source.name, "pending"))
        for rank in sorted({m.rank for m in work}):
            if not self.halt.is_set():
                self.run_parallel([m for m in work if m.rank == rank])
        if self.fatal is not None:
            raise self.fatal
        return self.build_report(maps)

    def check_quota(self, source: ImapSession, dest: Destination, work: list[FolderMap]) -> None:
        """Say so before copying when the source would not fit the destination's quota."""
        quota = dest.quota()
        if quota is None or not work or self.ctx.pair.rows().exists():
            return  # on a re-run, what was copied already counts in the quota used
        need = sum(s.bytes for s in plan.folder_sizes(source, [m.source for m in work]))
        left = max(0, quota[1] - quota[0])
        if need > left:
            self.ctx.log(
                f"Warning: the selected folders hold {size_text(need)} but the destination has "
                f"{size_text(left)} left of its quota: the migration would not fit."
            )

    # -- connections -----------------------------------------------------------------------

    def connect(self) -> tuple[ImapSession, Destination]:
        pair = self.ctx.pair
        source = plan.connect_source(pair.source)
        try:
            return source, plan.connect_destination(pair.destination)
        except BaseException:
            source.logout()
            raise

    def connect_with_retry(self) -> tuple[ImapSession, Destination]:
        return reconnect.connect_with_retry(self.connect, self.ctx.log)

    def cap(self) -> int:
        pair = self.ctx.pair
        caps = [int(getattr(a, "max_connections", 4) or 4) for a in (pair.source, pair.destination)]
        return max(1, min(caps))

    # -- workers ---------------------------------------------------------------------------

    def run_parallel(self, work: list[FolderMap]) -> None:
        parallel.drain(self.worker, work, self.cap(), "sync")

    def worker(self, todo: queue.Queue[FolderMap]) -> None:
        holder: dict = {"conn": None}
        try:
            while not self.halt.is_set():
                try:
                    entry = todo.get_nowait()
                except queue.Empty:
                    return
                self.reports[entry.source.raw_name] = self.sync_folder(entry, holder)
        finally:
            if holder["conn"] is not None:
                for side in holder["conn"]:
                    side.logout()
            connection.close()

    def sync_folder(self, entry: FolderMap, holder: dict) -> SyncFolderReport:
        return self.with_reconnect(entry, entry.source.name, holder)

    def made_progress(self, entry: FolderMap) -> bool:
        """A failed attempt that copied something or left a bad message out starts the count of
        reconnects again, so two bad messages in one folder do not use up its retries."""
        suspects = self.ctx.suspects.get(entry.source.raw_name)
        return suspects is not None and suspects.take_progress()

    def drop(self, pair):
        return _drop(pair)

    def attempt(self, entry: FolderMap, pair) -> SyncFolderReport:
        source, dest = pair
        folder = FolderSync(source, dest, entry, self.ctx)
        try:
            report = folder.run()
        except Cancelled:
            p = folder.progress
            self.ctx.progress(FolderProgress(p.folder, "cancelled", p.total, p.done, p.bytes))
            folder.report.state = "cancelled"
            return folder.report
        if report.missing or report.altered:
            report.error = report.verification()
        p = folder.progress
        state = "failed" if report.state == "failed" else "done"
        self.ctx.progress(FolderProgress(p.folder, state, p.total, p.done, p.bytes, report.error))
        return report

    def stop_all(self, exc: errors.PermanentError, entry: FolderMap) -> SyncFolderReport:
        self.fatal = self.fatal or exc
        self.halt.set()
        if isinstance(exc, QuotaExceeded):
            self.ctx.log(f"{entry.source.name}: {exc}")
        self.ctx.progress(FolderProgress(entry.source.name, "failed", error=str(exc)))
        return SyncFolderReport(entry.source.name, entry.target_name, "failed", error=str(exc))

    def failed(self, entry: FolderMap, exc: BaseException, unreachable=False) -> SyncFolderReport:
        message = sentence(exc)
        if not unreachable:
            logger.exception("sync of folder %s failed", entry.source.name)
        else:
            self.unreachable.add(entry.source.name)
        self.ctx.log(f"{entry.source.name}: failed: {message}")
        self.ctx.progress(FolderProgress(entry.source.name, "failed", error=message))
        return SyncFolderReport(entry.source.name, entry.target_name, "failed", error=message)

    # -- the outcome -----------------------------------------------------------------------

    def build_report(self, maps: list[FolderMap]) -> SyncReport:
        reports = []
        for entry in maps:
            report = self.reports.get(entry.source.raw_name)
            if report is None:  # never started: halted before its turn
                report = SyncFolderReport(entry.source.name, entry.target_name, "cancelled")
            reports.append(report)
        active = [r for r in reports if r.state != "skipped"]
        if active and all(r.folder in self.unreachable for r in active):
            raise errors.TransientError(f"A server stayed unreachable: {active[0].error}")
        report = SyncReport(
            state=_overall(active),
            folders=reports,
            messages_fetched=sum(r.copied for r in reports),
            bytes_fetched=sum(r.bytes for r in reports),
            dry_run=self.ctx.options.dry_run,
        )
        problems = [f"{r.folder}: {r.error}" for r in active if r.state == "failed" and r.error]
        problems += [f"{r.folder}: {r.verification()}" for r in active if r.missing or r.altered]
        report.error = "; ".join(problems)[:2000]
        return report


def _overall(reports: list[SyncFolderReport]) -> str:
    if any(r.state == "cancelled" for r in reports):
        return "cancelled"
    bad = [r for r in reports if r.state == "failed" or r.missing or r.refused or r.altered]
    if not bad:
        return "succeeded"
    return (
        "failed" if len(bad) == len(reports) and not any(r.copied for r in reports) else "partial"
    )


def _drop(pair):
    for side in pair or ():
        try:
            side.client.shutdown()
        except Exception:  # noqa: BLE001 - it is already broken
            pass
    return None
