"""Restore archived messages into any IMAP account: a whole account, folders, a search result or
a hand-picked selection, deleted-on-server messages included.

Each archived folder goes back to its own path on the destination (special-use folders to the
destination's folder with the same use), or under a new folder such as `Restored 2026-11-21/`.
The bytes come from the blob store (verified by hash on read) and are APPENDed with the archived
flags and internal date. Nothing is restored twice into the same destination folder: a restored
message is recorded (jobs.models.RestoredMessage) as soon as the server accepted it, and a copy
already in the folder (same fingerprint) is recognised, so a killed restore just runs again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction
from imapclient.imap_utf7 import encode as encode_utf7

from archive.blobstore import BlobBackend, get_store
from archive.models import Folder, Message
from jobs.engine import reconnect
from jobs.engine.copying import fingerprint, served
from jobs.engine.copying.destination import Destination, FolderRefused, Outgoing
from jobs.engine.copying.headers8bit import encode_8bit_headers
from jobs.engine.copying.mapping import MAPPED_SPECIAL_USE, Layout, layout_from
from jobs.engine.copying.report import SyncFolderReport, SyncReport
from jobs.engine.drops import Cancelled, is_connection_error
from jobs.engine.progress import DEFAULT_BATCH_BYTES, FolderProgress
from jobs.models import RestoredMessage
from mail import errors


def _noop(*_args) -> None:
    return None


def _never() -> bool:
    return False


@dataclass
class RestoreOptions:
    folders: list[str] | None = None  # archived folder display names; None = all
    message_ids: list[int] | None = None  # a selection or a search result (archive.Message ids)
    into: str = ""  # a new top folder, e.g. "Restored 2026-11-21" ("/" between levels)
    include_deleted: bool = True  # messages deleted on the server are restored too
    dry_run: bool = False
    batch_bytes: int = DEFAULT_BATCH_BYTES
    encode_8bit_headers: bool = False  # see copying/headers8bit.py


@dataclass
class _Target:
    name: str  # display name on the destination
    raw: str
    exists: bool
    messages: list[Message] = field(default_factory=list)
    label: str = ""  # the archived folder(s) it comes from
    sources: set[str] = field(default_factory=set)  # their names
    special: bool = False  # the destination's folder of a special use (folders meet there)
    merged_with: str = ""  # left out: another archived folder already goes to this target


def selected_messages(account, options: RestoreOptions):
    rows = Message.objects.filter(folder__account=account).select_related("folder")
    if options.folders is not None:
        rows = rows.filter(folder__name__in=options.folders)
    if options.message_ids is not None:
        rows = rows.filter(pk__in=options.message_ids)
    if not options.include_deleted:
        rows = rows.filter(
            deleted_on_server_at__isnull=True, folder__deleted_on_server_at__isnull=True
        )
    return rows.order_by("folder_id", "uid")


def restore_messages(
    account,
    destination,
    options: RestoreOptions | None = None,
    *,
    progress: Callable[[FolderProgress], None] = _noop,
    should_stop: Callable[[], bool] = _never,
    log: Callable[[str], None] = _noop,
    store: BlobBackend | None = None,
) -> SyncReport:
    """Put the selected archived messages of `account` (read from `store`, by default the
    configured blob store) into `destination` (an IMAP account)."""
    options = options or RestoreOptions()
    if getattr(destination, "protocol", "imap") != "imap":
        raise errors.PermanentError("Messages can only be restored into an IMAP account.")
    run = _Restore(account, destination, options, progress, should_stop, log)
    run.store = store or get_store()
    return run.execute()


class _Restore:
    def __init__(self, account, destination, options, progress, should_stop, log):
        self.account, self.destination, self.options = account, destination, options
        self.progress, self.should_stop, self.log = progress, should_stop, log
        self.store: BlobBackend | None = None

    def connect(self) -> Destination:
        from mail.connect import connect_imap

        return Destination(connect_imap(self.destination))

    def execute(self) -> SyncReport:
        dest = self.connect()
        try:
            targets = self.plan(dest)
            reports = []
            for target in targets.values():
                size = sum(m.size for m in target.messages)
                self.progress(
                    FolderProgress(target.label, "pending", len(target.messages), total_bytes=size)
                )
            for target in targets.values():
                report, dest = self.with_retry(dest, target)
                reports.append(report)
                if report.state == "cancelled":
                    break
        finally:
            dest.logout()
        return self.report(reports)

    def plan(self, dest: Destination) -> dict[str, _Target]:
        listed = dest.session.list_folders()
        layout = layout_from(listed, dest.namespace())
        by_use = {f.special_use: f for f in listed if f.special_use and f.selectable}
        existing = {f.raw_name for f in listed}
        folders = {f.pk: f for f in Folder.objects.filter(account=self.account)}
        prefix = _archived_prefix(folders.values())
        targets: dict[str, _Target] = {}
        for message in selected_messages(self.account, self.options):
            folder = folders[message.folder_id]
            name, raw = self.target_for(folder, prefix, layout, by_use)
            owner, key = targets.get(raw), raw
            if owner and not owner.special and folder.name not in owner.sources:
                key = f"{raw}\n{folder.name}"  # never merged with another folder: left out
            target = targets.get(key)
            if target is None:
                target = targets[key] = _Target(name, raw, raw in existing or raw == "INBOX")
                target.special = name in {f.name for f in by_use.values()}
                target.merged_with = owner.label if key != raw else ""
            target.messages.append(message)
            if folder.name not in target.sources:
                target.sources.add(folder.name)
                target.label = f"{target.label}, {folder.name}" if target.label else folder.name
        return targets

    def target_for(self, folder: Folder, prefix: str, layout: Layout, by_use) -> tuple[str, str]:
        path = Layout(folder.delimiter or "", prefix).path_of(folder.name)
        if self.options.into:
            path = tuple(p for p in self.options.into.split("/") if p) + path
        elif folder.special_use in MAPPED_SPECIAL_USE and folder.special_use in by_use:
            dest = by_use[folder.special_use]
            return dest.name, dest.raw_name
        display = layout.name_of(path)
        return display, encode_utf7(display).decode("ascii")

    def with_retry(
        self, dest: Destination, target: _Target
    ) -> tuple[SyncFolderReport, Destination]:
        for attempt in range(1, reconnect.RETRIES + 2):
            try:
                return self.restore_folder(dest, target), dest
            except Cancelled:
                return SyncFolderReport(target.label, target.name, "cancelled"), dest
            except Exception as exc:
                if not is_connection_error(exc) or attempt > reconnect.RETRIES:
                    raise
                self.log(f"{target.label}: connection lost ({exc}); retrying")
                time.sleep(reconnect.backoff(attempt))
                dest = self.connect()
        raise AssertionError("unreachable")

    def restore_folder(self, dest: Destination, target: _Target) -> SyncFolderReport:
        report = SyncFolderReport(target.label, target.name, create=not target.exists)
        done = set(
            RestoredMessage.objects.filter(
                destination=self.destination, dest_folder=target.raw
            ).values_list("message_id", flat=True)
        )
        todo = [m for m in target.messages if m.pk not in done]
        if target.merged_with:
            report.on_source = len(target.messages)
            reason = f"it would be merged into {target.name} with {target.merged_with}"
            report.refuse_folder(reason, "Restore it on its own, under a new folder.")
            self.progress(FolderProgress(target.label, "failed", error=report.error))
            return report
        if not target.exists and not self.options.dry_run:
            try:
                dest.create(target.raw)
            except FolderRefused as exc:
                report.on_source = len(target.messages)
                report.refuse_folder(exc, "Restore this folder on its own under a new folder.")
                self.log(f"{target.label}: {report.error}")
                self.progress(FolderProgress(target.label, "failed", error=report.error))
                return report
            target.exists = True
        todo = self.match_existing(dest, target, todo, report)
        report.to_copy, report.to_copy_bytes = len(todo), sum(m.size for m in todo)
        report.on_source = len(target.messages)
        if self.options.dry_run:
            return report
        sent = self.copy(dest, target, todo, report)
        self.confirm(dest, target, sent, report)
        self.verify(dest, target, report)
        if report.missing or report.altered:
            report.error = report.verification()
        size = sum(m.size for m in todo)
        self.progress(
            FolderProgress(
                target.label, "done", len(todo), len(todo), report.bytes, report.error, size
            )
        )
        return report

    def match_existing(self, dest, target, todo: list[Message], report) -> list[Message]:
        """Copies already in the destination folder (same fingerprint) are not restored again."""
        if not todo or not target.exists:
            return todo
        info = dest.session.examine(target.raw)
        if not info.exists:
            return todo
        free: dict[str, list[int]] = {}
        claimed = set(
            RestoredMessage.objects.filter(
                destination=self.destination,
                dest_folder=target.raw,
                dest_uidvalidity=info.uidvalidity,
            ).values_list("dest_uid", flat=True)
        )
        for uid, fp in sorted(dest.fingerprints().items()):
            if uid not in claimed:
                free.setdefault(fp, []).append(uid)
        rest, rows = [], []
        for message in todo:
            fp = fingerprint.of_message(self.store.get(message.blob_id), message.size)
            if free.get(fp):
                uid = free[fp].pop(0)
                rows.append(self.row(message, target, info.uidvalidity, uid))
            else:
                rest.append(message)
        if not self.options.dry_run:
            RestoredMessage.objects.bulk_create(rows, ignore_conflicts=True)
        report.matched = len(rows)
        return rest

    def copy(
        self, dest: Destination, target: _Target, todo: list[Message], report
    ) -> dict[int, served.Sent]:
        """APPEND in batches; returns destination UID -> what was sent there."""
        sent: dict[int, served.Sent] = {}
        progress = FolderProgress(
            target.label, "running", len(todo), total_bytes=sum(m.size for m in todo)
        )
        self.progress(progress)
        for batch in _batches(todo, self.options.batch_bytes):
            if self.should_stop():
                raise Cancelled
            outgoing = [
                Outgoing(m.pk, self.raw_of(m), list(m.flags or []), m.internal_date) for m in batch
            ]
            results = dest.append(target.raw, outgoing)
            by_id = {m.pk: m for m in batch}
            rows = [self.row(by_id[r.key], target, r.uidvalidity, r.uid) for r in results if r.ok]
            raws = {o.key: o.raw for o in outgoing}
            sent.update({r.uid: served.Sent.of(r.key, raws[r.key]) for r in results if r.uid})
            with transaction.atomic():
                RestoredMessage.objects.bulk_create(rows, ignore_conflicts=True)
            report.refused.update({r.key: r.error for r in results if not r.ok})
            dest.raise_if_over_quota(results)
            report.copied += len(rows)
            progress.done += len(batch)
            progress.bytes += sum(len(o.raw) for o in outgoing)
            report.bytes = progress.bytes
            self.progress(FolderProgress(**vars(progress)))
        return sent

    def raw_of(self, message: Message) -> bytes:
        raw = self.store.get(message.blob_id)
        return encode_8bit_headers(raw) if self.options.encode_8bit_headers else raw

    def confirm(self, dest: Destination, target: _Target, sent: dict, report) -> None:
        """Messages the destination serves with other bytes than were sent are reported."""
        for uid, raw in served.served_back(dest, target.raw, sent, self.options.batch_bytes):
            if not served.unchanged(sent[uid], raw):
                report.altered.append((sent[uid].key, sent[uid].name))
                self.log(f"{target.label}: {sent[uid].name} was changed by the destination")

    def verify(self, dest: Destination, target: _Target, report: SyncFolderReport) -> None:
        info = dest.session.examine(target.raw)
        here = set(dest.session.search_uids()) if info.exists else set()
        rows = RestoredMessage.objects.filter(destination=self.destination, dest_folder=target.raw)
        restored = {
            m: (v, u) for m, v, u in rows.values_list("message_id", "dest_uidvalidity", "dest_uid")
        }
        for message in target.messages:
            found = restored.get(message.pk)
            if found is None:
                report.missing.append((message.pk, report.refused.get(message.pk, "not restored")))
            elif found[1] is not None and (found[0] != info.uidvalidity or found[1] not in here):
                report.missing.append(
                    (message.pk, "deleted from the destination after the restore")
                )
            else:
                report.on_destination += 1

    def row(self, message: Message, target: _Target, validity, uid) -> RestoredMessage:
        return RestoredMessage(
            message=message,
            destination=self.destination,
            dest_folder=target.raw,
            dest_uidvalidity=validity,
            dest_uid=uid,
        )

    def report(self, reports: list[SyncFolderReport]) -> SyncReport:
        bad = [r for r in reports if r.missing or r.refused or r.altered or r.state == "failed"]
        state = (
            "cancelled"
            if any(r.state == "cancelled" for r in reports)
            else ("partial" if bad else "succeeded")
        )
        result = SyncReport(
            state=state,
            folders=reports,
            messages_fetched=sum(r.copied for r in reports),
            bytes_fetched=sum(r.bytes for r in reports),
            dry_run=self.options.dry_run,
            verb="restore",
        )
        result.error = "; ".join(f"{r.folder}: {r.verification()}" for r in bad)[:2000]
        return result


def _archived_prefix(folders) -> str:
    """ "INBOX." when every archived folder but INBOX sits under it (a Courier-style server)."""
    others = [f for f in folders if f.name.upper() != "INBOX" and f.delimiter]
    if not others:
        return ""
    prefix = "INBOX" + others[0].delimiter
    return prefix if all(f.name.startswith(prefix) for f in others) else ""


def _batches(messages: list[Message], limit: int):
    batch, total = [], 0
    for message in messages:
        if batch and total + message.size > limit:
            yield batch
            batch, total = [], 0
        batch.append(message)
        total += message.size
    if batch:
        yield batch
