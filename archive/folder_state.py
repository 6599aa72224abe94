"""The archive side of a backup: folder rows, cursors, flags, deletions and what is archived.

Everything the backup engine writes to the database goes through here, so the rules live in
one place: a folder row is keyed by (account, raw name, UIDVALIDITY); the cursor (`highest_uid`)
only moves in the same transaction as the batch it covers; nothing is ever deleted, only marked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone

from archive.ingest import FetchedMessage, park_message, store_messages
from archive.models import Folder, Message, ParkedMessage
from mail.imap import FolderStatus, ServerFolder
from sitesettings.values import local_now

UPDATE_CHUNK = 500
# How a parked message's error starts when fetching it broke the connection every time: such a
# UID is fetched alone, once per run (`jobs/engine/drops.py`, Suspects).
DROPPED_EVERY_TIME = "the server dropped the connection every time this message was fetched"


def current_folder(account, raw_name: str) -> Folder | None:
    """The newest row for a server folder name (the one a UIDVALIDITY reset re-keys)."""
    return (
        Folder.objects.filter(account=account, raw_name=raw_name, uidvalidity__isnull=False)
        .order_by("-last_synced_at", "-pk")
        .first()
    )


def folder_for(account, server: ServerFolder, uidvalidity: int) -> tuple[Folder, int | None]:
    """The row for this folder incarnation, and the previous UIDVALIDITY if it was reset."""
    exact = Folder.objects.filter(
        account=account, raw_name=server.raw_name, uidvalidity=uidvalidity
    ).first()
    if exact is not None:
        _refresh_listing(exact, server)
        return exact, None
    previous = current_folder(account, server.raw_name)
    if previous is not None:
        old = previous.uidvalidity
        # Re-key in place: one row per server folder, its messages keep their history.
        previous.uidvalidity = uidvalidity
        previous.uidnext = previous.highest_modseq = None
        previous.highest_uid = 0
        previous.save(update_fields=["uidvalidity", "uidnext", "highest_modseq", "highest_uid"])
        _refresh_listing(previous, server)
        return previous, old
    folder = Folder.objects.create(
        account=account,
        name=server.name,
        raw_name=server.raw_name,
        delimiter=server.delimiter,
        special_use=server.special_use,
        uidvalidity=uidvalidity,
    )
    return folder, None


def remember_mailbox_id(folder: Folder, mailbox_id: str) -> None:
    """Keep the server's MAILBOXID (RFC 8474) of the folder, so a rename can be followed."""
    if mailbox_id and folder.mailbox_id != mailbox_id:
        folder.mailbox_id = mailbox_id
        folder.save(update_fields=["mailbox_id"])


def _refresh_listing(folder: Folder, server: ServerFolder) -> None:
    changed = (folder.name, folder.delimiter, folder.special_use) != (
        server.name,
        server.delimiter,
        server.special_use,
    )
    if changed or folder.deleted_on_server_at is not None:
        folder.name, folder.delimiter = server.name, server.delimiter
        folder.special_use, folder.deleted_on_server_at = server.special_use, None
        folder.save(update_fields=["name", "delimiter", "special_use", "deleted_on_server_at"])


def is_unchanged(folder: Folder | None, status: FolderStatus | None) -> bool:
    """True when STATUS proves there is nothing to do (needs HIGHESTMODSEQ: RFC 7162)."""
    if folder is None or status is None or status.highest_modseq is None:
        return False
    return (
        folder.deleted_on_server_at is None
        and folder.last_synced_at is not None
        and folder.uidvalidity == status.uidvalidity
        and folder.uidnext == status.uidnext
        and folder.highest_modseq == status.highest_modseq
        and folder.highest_uid >= status.uidnext - 1
        and not folder.parked.exists()
    )


def mark_gone_folders(account, listed: Iterable[str]) -> list[str]:
    """Folders no longer on the server are kept and marked; returns their names."""
    gone = Folder.objects.filter(
        account=account, uidvalidity__isnull=False, deleted_on_server_at__isnull=True
    ).exclude(raw_name__in=set(listed))
    names = list(gone.values_list("name", flat=True))
    gone.update(deleted_on_server_at=timezone.now())
    return names


def gone_folder_names(account) -> set[str]:
    """Display names of the folders marked gone from the server (a followed rename is not)."""
    gone = Folder.objects.filter(account=account, deleted_on_server_at__isnull=False)
    return set(gone.values_list("name", flat=True))


def live_messages(account, folders: Iterable[str] | None = None) -> dict[str, int]:
    """Messages the archive holds as still on the server, per folder display name: of every
    folder still on the server, or of the named folders (such as the ones just marked gone)."""
    rows = Message.objects.filter(folder__account=account, deleted_on_server_at__isnull=True)
    if folders is None:
        rows = rows.filter(folder__deleted_on_server_at__isnull=True)
    else:
        rows = rows.filter(folder__name__in=list(folders))
    counts = rows.values("folder__name").annotate(n=Count("pk"))
    return {row["folder__name"]: row["n"] for row in counts}


def live_uids(folder: Folder) -> set[int]:
    """UIDs of the current incarnation that the archive holds and the server still had."""
    return set(
        Message.objects.filter(
            folder=folder, uidvalidity=folder.uidvalidity or 0, deleted_on_server_at__isnull=True
        ).values_list("uid", flat=True)
    )


def parked_uids(folder: Folder) -> set[int]:
    return set(
        ParkedMessage.objects.filter(folder=folder, uidvalidity=folder.uidvalidity or 0)
        .values_list("uid", flat=True)
    )  # fmt: skip


def parked_for_drops(folder: Folder) -> set[int]:
    """Parked UIDs whose fetch broke the connection every time."""
    return set(
        ParkedMessage.objects.filter(
            folder=folder,
            uidvalidity=folder.uidvalidity or 0,
            error__startswith=DROPPED_EVERY_TIME,
        ).values_list("uid", flat=True)
    )


def mark_deleted(folder: Folder, uids: Iterable[int]) -> int:
    """Messages gone from the server stay in the archive, marked with the time."""
    uids = list(uids)
    count = 0
    uv = folder.uidvalidity or 0
    for i in range(0, len(uids), UPDATE_CHUNK):
        chunk = uids[i : i + UPDATE_CHUNK]
        count += Message.objects.filter(
            folder=folder, uidvalidity=uv, uid__in=chunk, deleted_on_server_at__isnull=True
        ).update(deleted_on_server_at=timezone.now())
        ParkedMessage.objects.filter(folder=folder, uidvalidity=uv, uid__in=chunk).delete()
    return count


def update_flags(folder: Folder, flags: dict[int, list[str]]) -> int:
    """Record flag changes seen on the server; returns how many messages changed."""
    return _update_lists(folder, "flags", flags)


def update_labels(folder: Folder, labels: dict[int, list[str]]) -> int:
    """Record Gmail label changes (X-GM-LABELS); returns how many messages changed."""
    return _update_lists(folder, "gm_labels", labels)


def _update_lists(folder: Folder, column: str, values: dict[int, list[str]]) -> int:
    changed = []
    uids = list(values)
    for i in range(0, len(uids), UPDATE_CHUNK):
        rows = Message.objects.filter(
            folder=folder, uidvalidity=folder.uidvalidity or 0, uid__in=uids[i : i + UPDATE_CHUNK]
        ).only("pk", "uid", column)
        for row in rows:
            if sorted(getattr(row, column)) != sorted(values[row.uid]):
                setattr(row, column, values[row.uid])
                changed.append(row)
    Message.objects.bulk_update(changed, [column], batch_size=UPDATE_CHUNK)
    return len(changed)


def store_batch(
    folder: Folder, fetched: list[FetchedMessage], cursor: int | None, store=None
) -> int:
    """Store a batch and advance the cursor in the same transaction; returns rows created."""

    def advance(_created) -> None:
        if cursor is not None:
            advance_cursor(folder, cursor)

    if not fetched:  # every message of the batch vanished or was parked
        advance(None)
        return 0
    return len(store_messages(folder, fetched, store=store, in_transaction=advance))


def advance_cursor(folder: Folder, cursor: int) -> None:
    Folder.objects.filter(pk=folder.pk, highest_uid__lt=cursor).update(highest_uid=cursor)
    folder.highest_uid = max(folder.highest_uid, cursor)


def park(folder: Folder, uid: int, error: str) -> None:
    park_message(folder, uid, error)


def finish_folder(folder: Folder, uidnext: int, modseq: int | None, cursor: int | None) -> None:
    """The pass is complete: remember the server state that an unchanged folder will repeat."""
    with transaction.atomic():
        if cursor is not None:
            advance_cursor(folder, cursor)
        folder.uidnext, folder.highest_modseq = uidnext, modseq
        folder.last_synced_at = timezone.now()
        folder.save(update_fields=["uidnext", "highest_modseq", "last_synced_at"])


@dataclass
class Archived:
    """What the archive holds of a folder (its current UIDVALIDITY), for the folder's report."""

    live: int  # messages still on the server
    parked: list[int]  # UIDs parked, ascending
    deleted_on_server: int


def archived(folder: Folder) -> Archived:
    uv = folder.uidvalidity or 0
    messages = Message.objects.filter(folder=folder)
    return Archived(
        live=messages.filter(uidvalidity=uv, deleted_on_server_at__isnull=True).count(),
        parked=sorted(parked_uids(folder)),
        deleted_on_server=messages.filter(deleted_on_server_at__isnull=False).count(),
    )


def bytes_downloaded_today(account) -> int:
    """What the daily budget has already paid for today (messages first seen since midnight)."""
    midnight = local_now().replace(hour=0, minute=0, second=0, microsecond=0)
    total = Message.objects.filter(folder__account=account, first_seen_at__gte=midnight).aggregate(
        total=Sum("size")
    )["total"]
    return int(total or 0)


def known_gmail_blobs(account, gm_msgids: Iterable[int]) -> dict[int, str]:
    """X-GM-MSGID -> blob sha256 for Gmail messages already archived under another label."""
    ids = list(gm_msgids)
    found: dict[int, str] = {}
    for i in range(0, len(ids), UPDATE_CHUNK):
        rows = Message.objects.filter(
            folder__account=account, gm_msgid__in=ids[i : i + UPDATE_CHUNK]
        ).values_list("gm_msgid", "blob_id")
        found.update(dict(rows))
    return found


def today() -> dt.date:
    return timezone.localdate()
