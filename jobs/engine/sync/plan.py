"""Before a sync copies anything: connect both sides, list them, and map every source folder.

Shared by the sync run (`account.py`) and its pre-flight (`preflight.py`).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from jobs.engine.copying.destination import Destination
from jobs.engine.copying.mapping import FolderMap, Layout, layout_from, plan, refuse_merges
from jobs.engine.copying.report import SyncOptions
from mail.imap import ImapSession

SKIPPED_SPECIAL_USE = ("\\Trash", "\\Junk")


@dataclass
class FolderSize:
    name: str
    messages: int
    bytes: int


def connect_source(account) -> ImapSession:
    from mail.connect import connect_imap

    return ImapSession(connect_imap(account))


def connect_destination(account) -> Destination:
    from mail.connect import connect_imap

    return Destination(connect_imap(account))


def plan_folders(
    source: ImapSession, dest: Destination, options: SyncOptions
) -> tuple[list[FolderMap], Layout, Layout]:
    """List both sides and map every source folder (skipped ones say why)."""
    listed, dest_listed = source.list_folders(), dest.session.list_folders()
    source_layout = layout_from(listed, _namespace(source))
    dest_layout = layout_from(dest_listed, dest.namespace())
    maps = plan(
        listed,
        source_layout,
        dest_listed,
        dest_layout,
        rules=options.rules,
        gmail=source.gmail,
        gmail_dedupe=options.gmail_dedupe,
    )
    for entry in maps:
        if not entry.skip:
            entry.skip = _not_selected(entry, options)
    refuse_merges(maps, dest_layout)
    return maps, source_layout, dest_layout


def _namespace(session: ImapSession) -> tuple[str, str] | None:
    if "NAMESPACE" not in session.capabilities:
        return None
    personal = session.client.namespace().personal
    if not personal:
        return None
    prefix, delimiter = personal[0]
    text = [v.decode() if isinstance(v, bytes) else (v or "") for v in (prefix, delimiter)]
    return text[0], text[1]


def _not_selected(entry: FolderMap, options: SyncOptions) -> str:
    names = (entry.source.name, entry.source_path)
    if options.folders is not None and not any(n in options.folders for n in names):
        return "not among the chosen folders"
    if options.include and not any(
        fnmatch.fnmatchcase(n, p) for n in names for p in options.include
    ):
        return "not included"
    if any(fnmatch.fnmatchcase(n, p) for n in names for p in options.exclude):
        return "excluded"
    if options.skip_trash_and_junk and entry.source.special_use in SKIPPED_SPECIAL_USE:
        return "Trash and Junk are skipped"
    return ""


def folder_sizes(session: ImapSession, folders) -> list[FolderSize]:
    sizes = []
    has_size = "STATUS=SIZE" in session.capabilities
    for folder in folders:
        if has_size:
            status = session.client.folder_status(folder.raw_name, ["MESSAGES", "SIZE"])
            count, size = int(status[b"MESSAGES"]), int(status.get(b"SIZE", 0))
        else:
            session.examine(folder.raw_name)
            uids = session.search_uids()
            meta = session.fetch_meta(uids) if uids else {}
            count, size = len(meta), sum(m.size for m in meta.values())
        sizes.append(FolderSize(folder.name, count, size))
    return sizes
