"""UIDVALIDITY reset: map the folder's new UIDs onto the messages already archived.

A server migration or a rebuilt index renumbers every message. Nothing may be stored twice and
nothing archived may be lost, so each new UID is matched to an archived message by its envelope
(Message-ID, size, internal date); only where that does not settle it (no Message-ID, several
candidates) is the body fetched and matched by sha256. Matched rows are re-keyed in place (they
keep their first-seen time and their links); archived messages no longer on the server stay,
marked deleted-on-server, under their old UIDVALIDITY. The pass is resumable: it runs whenever
live messages with another UIDVALIDITY remain, and skips UIDs already mapped.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from typing import Any, Protocol

from django.db import transaction
from django.utils import timezone

from archive import folder_state as state
from archive.ingest import FetchedMessage
from archive.models import Folder, Message, ParkedMessage
from jobs.engine.backup.report import BackupOptions
from jobs.engine.batching import batches_by_bytes
from mail.imap import ImapSession, Meta

Key = tuple[str, int, int]


class FolderPass(Protocol):
    """What a re-map needs of the folder pass that found the new UIDVALIDITY (FolderBackup)."""

    fetched: int
    options: BackupOptions
    ctx: Any  # its log is told what was re-mapped

    def fetch_batch(self, uids: list[int]) -> list[FetchedMessage]: ...

    def store_batch(self, fetched: list[FetchedMessage], cursor: int | None) -> None: ...


def needs_remap(folder: Folder) -> bool:
    return (
        Message.objects.filter(folder=folder, deleted_on_server_at__isnull=True)
        .exclude(uidvalidity=folder.uidvalidity)
        .exists()
    )


def remap_folder(session: ImapSession, folder: Folder, backup: FolderPass) -> int:
    """Re-key archived messages to the new UIDs; returns how many new messages were stored."""
    server = session.search_uids()
    mapped = state.live_uids(folder)
    metas = session.fetch_meta([u for u in server if u not in mapped], envelope=True)
    old = list(
        Message.objects.filter(folder=folder, deleted_on_server_at__isnull=True)
        .exclude(uidvalidity=folder.uidvalidity)
        .only("pk", "uid", "uidvalidity", "message_id", "size", "internal_date", "blob_id")
    )
    settled, unsettled = match_envelopes(metas, old)
    _rekey(folder, settled)
    matched = {row.pk for row, _ in settled}
    leftover = [row for row in old if row.pk not in matched]
    stored = _match_bodies(session, folder, backup, [metas[u] for u in unsettled], leftover)
    _retire(folder, leftover)
    if server:
        state.advance_cursor(folder, max(server))
    backup.ctx.log(
        f"{folder.name}: re-mapped {len(old) - len(leftover)} archived messages, "
        f"{stored} new, {len(leftover)} no longer on the server"
    )
    return stored


def envelope_key(message_id: str, size: int, when) -> Key | None:
    """(Message-ID, size, internal date): what recognises a message without its body."""
    if not message_id or when is None:
        return None
    return (message_id, int(size), int(when.timestamp()))


def match_envelopes(
    metas: dict[int, Meta], old: list[Message]
) -> tuple[list[tuple[Message, Meta]], list[int]]:
    """Pairs settled by envelope alone, and the UIDs that need their body to decide."""
    by_key: dict[Key, list[Message]] = defaultdict(list)
    for row in old:
        key = envelope_key(row.message_id, row.size, row.internal_date)
        if key:
            by_key[key].append(row)
    server_keys: dict[Key, list[int]] = defaultdict(list)
    for uid, meta in metas.items():
        key = envelope_key(meta.message_id, meta.size, meta.internal_date)
        if key:
            server_keys[key].append(uid)
    settled: list[tuple[Message, Meta]] = []
    unsettled: list[int] = []
    for uid, meta in sorted(metas.items()):
        key = envelope_key(meta.message_id, meta.size, meta.internal_date)
        if key and len(by_key.get(key, ())) == 1 and len(server_keys[key]) == 1:
            settled.append((by_key[key][0], meta))
        else:
            unsettled.append(uid)
    return settled, unsettled


def _rekey(folder: Folder, pairs: list[tuple[Message, Meta]]) -> None:
    for row, meta in pairs:
        row.uidvalidity, row.uid, row.flags = folder.uidvalidity, meta.uid, list(meta.flags)
    with transaction.atomic():
        Message.objects.bulk_update(
            [row for row, _ in pairs], ["uidvalidity", "uid", "flags"], batch_size=500
        )


def _match_bodies(
    session: ImapSession,
    folder: Folder,
    backup: FolderPass,
    metas: list[Meta],
    leftover: list[Message],
) -> int:
    """Fetch the bodies envelopes could not settle; re-key by sha256 or store as new."""
    by_sha: dict[str, list[Message]] = defaultdict(list)
    for row in leftover:
        by_sha[row.blob_id].append(row)
    stored_before = backup.fetched
    sizes = {m.uid: m.size for m in metas}
    for batch in batches_by_bytes(sizes, backup.options.batch_bytes):
        fetched = backup.fetch_batch(batch)
        pairs, new = [], []
        for message in fetched:
            candidates = by_sha.get(hashlib.sha256(message.raw).hexdigest())
            if candidates:
                row = candidates.pop(0)
                leftover.remove(row)
                pairs.append((row, Meta(message.uid, message.size, flags=tuple(message.flags))))
            else:
                new.append(message)
        _rekey(folder, pairs)
        backup.store_batch(new, None)
    return backup.fetched - stored_before


def _retire(folder: Folder, leftover: list[Message]) -> None:
    now = timezone.now()
    ids = [row.pk for row in leftover]
    for i in range(0, len(ids), 500):
        Message.objects.filter(pk__in=ids[i : i + 500]).update(deleted_on_server_at=now)
    ParkedMessage.objects.filter(folder=folder).exclude(uidvalidity=folder.uidvalidity).delete()
