"""POP3 backup: UIDL decides what is new, RETR fetches it, DELE is never sent.

Everything lands in one folder "INBOX" (POP3 has no folders and no UIDVALIDITY). A message's
UID in the archive is a local sequence; its UIDL is kept in `pop3_uidl`. Messages whose UIDL
vanished from the server stay in the archive, marked deleted-on-server.
"""

from __future__ import annotations

import poplib
import time
from collections.abc import Callable

from django.db.models import Max
from django.utils import timezone

from archive import folder_state as state
from archive.blobstore import BlobBackend, get_store
from archive.ingest import FetchedMessage
from archive.models import Folder, Message, ParkedMessage
from jobs.engine import reconnect
from jobs.engine.backup.report import BackupOptions, BackupReport, reconcile
from jobs.engine.limits import Budget, BudgetExhausted, Throttle
from jobs.engine.progress import FolderProgress
from mail import errors, pop3


class _Dropped(Exception):
    pass


def backup_pop3(
    account,
    options: BackupOptions,
    *,
    progress: Callable[[FolderProgress], None],
    should_stop: Callable[[], bool],
    log: Callable[[str], None],
    store: BlobBackend | None = None,
) -> BackupReport:
    budget_mb = getattr(account, "daily_budget_mb", None)
    budget = Budget(
        budget_mb * 1024 * 1024 if budget_mb else None,
        state.bytes_downloaded_today(account) if budget_mb else 0,
    )
    run = _Pop3Run(account, options, progress, should_stop, log, budget, store or get_store())
    for attempt in range(1, reconnect.RETRIES + 2):
        try:
            return run.execute()
        except (OSError, EOFError, poplib.error_proto, errors.TransientError) as exc:
            if isinstance(exc, errors.PermanentError) or attempt > reconnect.RETRIES:
                if isinstance(exc, errors.EngineError):
                    raise
                raise errors.TransientError(f"The POP3 server stayed unreachable: {exc}") from exc
            delay = reconnect.backoff(attempt)
            log(f"POP3 connection lost ({exc}); retry in {delay:g}s")
            time.sleep(delay)
    raise AssertionError("unreachable")


class _Pop3Run:
    def __init__(self, account, options, progress, should_stop, log, budget: Budget, blobs):
        self.account, self.options, self.blobs = account, options, blobs
        self.progress, self.should_stop, self.log = progress, should_stop, log
        self.budget = budget
        self.throttle = Throttle(getattr(account, "bandwidth_limit", None))
        self.fetched = 0
        self.bytes = 0

    def execute(self) -> BackupReport:
        from mail.connect import connect_pop3

        client = connect_pop3(self.account)
        try:
            folder = _inbox(self.account)
            server = pop3.uidl(client)
            sizes = pop3.sizes(client)
            todo = self.plan(folder, server, sizes)
            state_name = self.fetch_all(client, folder, todo, sizes)
        finally:
            try:
                client.quit()  # QUIT without DELE changes nothing on the server
            except Exception:  # noqa: BLE001
                client.close()
        state.finish_folder(folder, 0, None, None)
        report = reconcile(folder, len(server), self.fetched, self.bytes)
        report.state = "done" if state_name == "succeeded" else state_name
        self.progress(FolderProgress("INBOX", report.state, len(todo), len(todo), self.bytes))
        return BackupReport(state_name, [report], self.fetched, self.bytes)

    def plan(self, folder: Folder, server: dict[str, int], sizes: dict[int, int]) -> list:
        """(message number, uidl, local uid) of the messages to fetch; marks the vanished ones."""
        archived = dict(
            Message.objects.filter(folder=folder).values_list("pop3_uidl", "deleted_on_server_at")
        )
        gone = [u for u, deleted in archived.items() if deleted is None and u not in server]
        Message.objects.filter(folder=folder, pop3_uidl__in=gone).update(
            deleted_on_server_at=timezone.now()
        )
        back = [u for u, deleted in archived.items() if deleted is not None and u in server]
        Message.objects.filter(folder=folder, pop3_uidl__in=back).update(deleted_on_server_at=None)
        parked = _parked_uids(folder)
        next_uid = _next_uid(folder)
        todo = []
        for uidl, number in server.items():
            if uidl in archived:
                continue
            if (
                self.options.max_message_size
                and sizes.get(number, 0) > self.options.max_message_size
            ):
                continue
            uid = parked.get(uidl)
            if uid is None:
                uid, next_uid = next_uid, next_uid + 1
            todo.append((number, uidl, uid))
        return todo

    def fetch_all(self, client, folder: Folder, todo: list, sizes: dict[int, int]) -> str:
        batch: list[FetchedMessage] = []
        batch_bytes = 0
        self.progress(FolderProgress("INBOX", "running", len(todo)))
        for done, (number, uidl, uid) in enumerate(todo, 1):
            if self.should_stop():
                self.store(folder, batch)
                return "cancelled"
            try:
                self.budget.reserve(sizes.get(number, 0))
            except BudgetExhausted as exc:
                self.store(folder, batch)
                self.log(f"{exc}; the next run continues")
                return "paused"
            raw = self.retr(client, folder, number, uidl, uid, sizes.get(number, 0))
            if raw is not None:
                batch.append(FetchedMessage(uid, raw, [], None, len(raw), pop3_uidl=uidl))
                batch_bytes += len(raw)
            if batch_bytes >= self.options.batch_bytes:
                self.store(folder, batch)
                batch, batch_bytes = [], 0
            self.progress(FolderProgress("INBOX", "running", len(todo), done, self.bytes))
        self.store(folder, batch)
        return "succeeded"

    def retr(self, client, folder, number: int, uidl: str, uid: int, size: int) -> bytes | None:
        try:
            raw = pop3.retr(client, number, size)
        except poplib.error_proto as exc:  # the server refused this one message
            state.park(folder, uid, f"UIDL {uidl}: RETR failed: {exc}")
            return None
        self.throttle.consume(len(raw))
        return raw

    def store(self, folder: Folder, batch: list[FetchedMessage]) -> None:
        if not batch:
            return
        try:
            self.fetched += state.store_batch(folder, batch, None, self.blobs)
        except Exception:  # noqa: BLE001 - one by one, parking the ones that fail
            for message in batch:
                try:
                    self.fetched += state.store_batch(folder, [message], None, self.blobs)
                except Exception as exc:  # noqa: BLE001
                    state.park(folder, message.uid, f"UIDL {message.pop3_uidl}: {exc}")
        self.bytes += sum(len(m.raw) for m in batch)


def _inbox(account) -> Folder:
    folder, _ = Folder.objects.get_or_create(
        account=account,
        raw_name="INBOX",
        uidvalidity=None,
        defaults={"name": "INBOX", "delimiter": ""},
    )
    if folder.deleted_on_server_at is not None:
        Folder.objects.filter(pk=folder.pk).update(deleted_on_server_at=None)
    return folder


def _parked_uids(folder: Folder) -> dict[str, int]:
    """UIDL -> the local UID it was parked under, so a retry clears the same row."""
    found = {}
    for uid, error in ParkedMessage.objects.filter(folder=folder).values_list("uid", "error"):
        if error.startswith("UIDL "):
            found[error[5:].split(":", 1)[0]] = uid
    return found


def _next_uid(folder: Folder) -> int:
    top = Message.objects.filter(folder=folder).aggregate(m=Max("uid"))["m"] or 0
    parked = ParkedMessage.objects.filter(folder=folder).aggregate(m=Max("uid"))["m"] or 0
    return max(top, parked) + 1
