"""A folder renamed on the server is followed, not downloaded again as a new folder.

The listing of a run marks folders no longer on the server as gone (their messages stay). When
the same run meets a folder the archive has never seen: where the server has OBJECTID (RFC
8474, Cyrus), the gone folder with the same MAILBOXID is that folder, renamed. Otherwise the
new folder's envelopes (Message-ID, size, internal date: one FETCH, no bodies) are matched
against each gone folder's messages, and a gone folder that holds at least half of the smaller
of the two is taken to be the same folder. Its row is renamed, and the pass goes on as for a
known folder (new UIDs only; a changed UIDVALIDITY is re-mapped by `remap.py`, by envelope and
then by body). The rename is logged.
"""

from __future__ import annotations

from collections.abc import Callable

from archive import folder_state as state
from archive.models import Folder, Message
from jobs.engine.backup.remap import envelope_key
from mail.imap import Examined, ImapSession, ServerFolder


def follow_rename(
    session: ImapSession, account, server: ServerFolder, info: Examined, log: Callable
) -> Folder | None:
    """The archived folder `server` was renamed from, now under its new name; or None."""
    if state.current_folder(account, server.raw_name) is not None:
        return None
    gone = Folder.objects.filter(
        account=account, deleted_on_server_at__isnull=False, uidvalidity__isnull=False
    )
    if info.mailbox_id:  # the server names its folders: no guessing
        best = gone.filter(mailbox_id=info.mailbox_id).order_by("-pk").first()
    else:
        best = _by_content(session, list(gone.exclude(message_count=0)), info)
    if best is None or not _claim(best, server):
        return None
    log(
        f"{server.name}: renamed on the server from {best.name}: its archived messages are "
        "kept under the new name, not downloaded again"
    )
    return best


def _by_content(session: ImapSession, gone: list[Folder], info: Examined) -> Folder | None:
    if not gone or not info.exists:
        return None
    metas = session.fetch_meta(session.search_uids(), envelope=True)
    keys = {envelope_key(m.message_id, m.size, m.internal_date) for m in metas.values()} - {None}
    return _best_match(gone, keys)


def _best_match(gone: list[Folder], keys: set) -> Folder | None:
    best, best_score = None, 0
    for folder in gone:
        rows = Message.objects.filter(folder=folder, deleted_on_server_at__isnull=True)
        theirs = {
            envelope_key(*row) for row in rows.values_list("message_id", "size", "internal_date")
        } - {None}
        score = len(keys & theirs)
        if score and 2 * score >= min(len(keys), len(theirs)) and score > best_score:
            best, best_score = folder, score
    return best


def _claim(folder: Folder, server: ServerFolder) -> bool:
    """Rename the row if no other pass took it first (a conditional UPDATE decides)."""
    taken = Folder.objects.filter(account_id=folder.account_id, raw_name=server.raw_name)
    if taken.filter(uidvalidity=folder.uidvalidity).exists():
        return False
    won = Folder.objects.filter(pk=folder.pk, deleted_on_server_at__isnull=False).update(
        name=server.name,
        raw_name=server.raw_name,
        delimiter=server.delimiter,
        special_use=server.special_use,
        deleted_on_server_at=None,
    )
    return won == 1
