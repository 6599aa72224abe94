"""Back up one IMAP folder on one connection: changes first, then new messages in byte batches.

The order of a pass: EXAMINE; re-key the folder if UIDVALIDITY changed (`remap.py`); apply flag
changes and expunges since the last pass (CHANGEDSINCE/VANISHED, or a sweep); then fetch what is
new (and what was parked) in batches bounded by bytes, each batch committed together with the
cursor, so a killed run resumes after the last committed batch. A message whose FETCH breaks the
connection every time is found and parked (`Suspects`), so it cannot fail the folder every run.
"""

from __future__ import annotations

import imaplib
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from functools import partial
from itertools import chain

from archive import folder_state as state
from archive.blobstore import BlobBackend, get_store
from archive.ingest import FetchedMessage
from archive.models import Folder
from jobs.engine.backup import remap
from jobs.engine.backup.renames import follow_rename
from jobs.engine.backup.report import BackupOptions, FolderReport, reconcile
from jobs.engine.batching import batches_by_bytes
from jobs.engine.drops import Cancelled, Suspects, dropped_error, is_connection_error
from jobs.engine.limits import Budget
from jobs.engine.prefetch import prefetched
from jobs.engine.progress import FolderProgress
from mail.imap import Examined, Fetched, ImapSession, Meta, ServerFolder


@dataclass
class Context:
    """What every folder pass of one backup shares."""

    account: object
    options: BackupOptions
    progress: Callable[[FolderProgress], None]
    should_stop: Callable[[], bool]
    log: Callable[[str], None]
    budget: Budget = field(default_factory=lambda: Budget(None))
    store: BlobBackend = field(default_factory=get_store)  # where the messages go


class FolderBackup:
    def __init__(
        self,
        session: ImapSession,
        server: ServerFolder,
        ctx: Context,
        suspects: Suspects | None = None,
    ):
        self.session = session
        self.server = server
        self.ctx = ctx
        self.options = ctx.options
        self.folder: Folder | None = None
        self.progress = FolderProgress(server.name, "running")
        self.fetched = 0
        self.suspects = suspects or Suspects()
        self.exists: int | None = None  # messages on the server, once the folder is open
        self.vanished = 0  # messages this run found gone from the server (marked deleted)
        self.flags_changed = 0  # messages whose flags this run found changed

    def resume_from(self, earlier: FolderBackup | None) -> None:
        """Count on from an earlier attempt at this folder whose connection broke: the folder's
        figures are the run's, not the last connection's (9 of 10 where 19 of 20 were)."""
        if earlier is not None:
            self.fetched, self.vanished = earlier.fetched, earlier.vanished
            self.flags_changed = earlier.flags_changed
            self.progress.done, self.progress.bytes = earlier.progress.done, earlier.progress.bytes

    def run(self) -> FolderReport:
        info = self.session.examine(self.server.raw_name)
        self.exists = info.exists
        follow_rename(self.session, self.ctx.account, self.server, info, self.ctx.log)
        folder, _previous = state.folder_for(self.ctx.account, self.server, info.uidvalidity)
        state.remember_mailbox_id(folder, info.mailbox_id)
        self.folder = folder
        if remap.needs_remap(folder):
            self.ctx.log(f"{self.server.name}: UIDVALIDITY changed, matching archived messages")
            self.fetched += remap.remap_folder(self.session, folder, self)
        elif folder.last_synced_at is not None:
            self._apply_changes(info)
        todo = self._to_fetch()
        self._fetch_all(todo)
        cursor = None if self.options.filtered else max(info.uidnext - 1, 0)
        state.finish_folder(folder, info.uidnext, info.highest_modseq, cursor)
        report = reconcile(folder, info.exists, self.fetched, self.progress.bytes)
        report.vanished, report.flags_changed = self.vanished, self.flags_changed
        return report

    # -- flags and expunges ----------------------------------------------------------------

    def _apply_changes(self, info: Examined) -> None:
        folder, session = self.folder, self.session
        if folder.highest_uid == 0:
            return
        known = state.live_uids(folder) | state.parked_uids(folder)
        old_modseq = folder.highest_modseq
        labels: dict[int, list[str]] = {}  # Gmail only: labels come and go like flags
        if session.condstore and old_modseq and info.highest_modseq:
            if info.highest_modseq == old_modseq:
                return
            span = f"1:{folder.highest_uid}"
            flags, vanished = session.fetch_flags(span, old_modseq, labels=labels)
            if session.qresync:
                gone = known & set(vanished)
            else:
                gone = known - set(session.search_uids())
        else:
            flags, _ = session.fetch_flags("1:*", labels=labels)
            gone = known - set(flags)
        changed = state.update_flags(folder, flags)
        relabelled = state.update_labels(folder, labels)
        deleted = state.mark_deleted(folder, gone)
        self.vanished += deleted
        self.flags_changed += changed
        if changed or deleted or relabelled:
            self.ctx.log(
                f"{folder.name}: {changed} flag changes, {relabelled} label changes, "
                f"{deleted} deleted on the server"
            )

    # -- what to fetch ---------------------------------------------------------------------

    def _to_fetch(self) -> dict[int, Meta]:
        folder, opts = self.folder, self.options
        self._park_condemned()
        self.suspects.probed = state.parked_for_drops(folder)
        parked = state.parked_uids(folder) - self.suspects.parked
        if opts.filtered:
            found = self.session.search_uids(since=opts.since, before=opts.before)
            new = set(found) - state.live_uids(folder) - parked
        else:
            new = set(self.session.search_uids(first_uid=folder.highest_uid + 1))
        new -= self.suspects.parked
        meta = self.session.fetch_meta(new | parked) if (new or parked) else {}
        if opts.max_message_size:
            meta = {u: m for u, m in meta.items() if m.size <= opts.max_message_size}
        return meta

    def _park_condemned(self) -> None:
        """Park what broke the connection every time it was fetched (see Suspects)."""
        for uid, drops in sorted(self.suspects.condemned().items()):
            state.park(self.folder, uid, dropped_error(drops))
            self.suspects.parked.add(uid)
            self.suspects.progressed = True
            self.ctx.log(f"{self.folder.name}: UID {uid} parked: {dropped_error(drops)}")

    def _batches(self, sizes: dict[int, int]) -> Iterator[list[int]]:
        """Batches by bytes; one message at a time in a batch that keeps breaking the
        connection; UIDs parked for that by an earlier run alone and last, so they can cost
        at most the reconnect after them."""
        probed = sorted(u for u in sizes if u in self.suspects.probed)
        rest = {u: s for u, s in sizes.items() if u not in self.suspects.probed}
        for batch in chain(batches_by_bytes(rest, self.options.batch_bytes), [[u] for u in probed]):
            if self.suspects.isolate(batch):
                yield from ([uid] for uid in batch)
            else:
                yield batch

    # -- fetching and storing --------------------------------------------------------------

    def _fetch_all(self, meta: dict[int, Meta]) -> None:
        """Fetch and store in batches. The next batch is read from the server (in a reader
        thread, `jobs/engine/prefetch.py`) while this one is stored: the server works while we
        hash, compress, parse and commit. Only this thread writes the database, in batch order,
        so the cursor still moves only with a committed batch; a batch read ahead and not yet
        stored when the run is killed is simply fetched again by the next run."""
        known = self._known_gmail(meta)
        sizes = {uid: (0 if uid in known else m.size) for uid, m in meta.items()}
        self.progress.total = self.progress.done + len(sizes)
        self.progress.total_bytes = self.progress.bytes + sum(sizes.values())
        self._report()
        cursor_ok = not self.options.filtered
        batches = self._batches(sizes)
        read = partial(self._read_batch, sizes=sizes, known=known)
        # closing(): on an error the reader stops at once, before anyone else uses the session.
        with closing(prefetched(read, batches, depth=1)) as ahead:
            for batch, fetched, failed in ahead:
                if self.ctx.should_stop():
                    raise Cancelled
                self._park(failed)
                self.store_batch(fetched, max(batch) if cursor_ok else None)
                self.suspects.progressed = True
                self.progress.done += len(batch)
                self.progress.bytes += sum(len(f.raw) for f in fetched)
                self._report()

    def _read_batch(self, batch: list[int], sizes: dict[int, int], known: dict[int, str]):
        """In the reader thread: the server side of one batch, no database writes."""
        if self.ctx.should_stop():
            raise Cancelled
        self.ctx.budget.reserve(sum(sizes[u] for u in batch))
        bodies = [u for u in batch if u not in known]
        try:
            fetched, failed = self._download(bodies)
        except Exception as exc:
            if is_connection_error(exc):
                self.suspects.dropped(bodies)  # these were in flight when it broke
            raise
        fetched += self._from_archive([u for u in batch if u in known], known)
        return batch, fetched, failed

    def _known_gmail(self, meta: dict[int, Meta]) -> dict[int, str]:
        """Gmail shows one message under every label: download it once (X-GM-MSGID)."""
        if not self.session.gmail:
            return {}
        blobs = state.known_gmail_blobs(
            self.ctx.account, {m.gm_msgid for m in meta.values() if m.gm_msgid}
        )
        return {uid: blobs[m.gm_msgid] for uid, m in meta.items() if m.gm_msgid in blobs}

    def _from_archive(self, uids: list[int], known: dict[int, str]) -> list[FetchedMessage]:
        if not uids:
            return []
        light = {f.uid: f for f in self.session.fetch_bodies(uids, body=False)}
        store = self.ctx.store
        return [_as_fetched(light[uid], raw=store.get(known[uid])) for uid in uids if uid in light]

    def fetch_batch(self, uids: list[int]) -> list[FetchedMessage]:
        """Bodies of a batch; the UIDs the server refuses are parked."""
        fetched, failed = self._download(uids)
        self._park(failed)
        return fetched

    def _download(self, uids: list[int]) -> tuple[list[FetchedMessage], list[tuple[int, str]]]:
        """Bodies of a batch and the (UID, error) the server refused: a NO for the batch falls
        back to one message at a time. Touches only the connection, never the database."""
        if not uids:
            return [], []
        try:
            return [_as_fetched(f) for f in self.session.fetch_bodies(uids)], []
        except imaplib.IMAP4.error as exc:
            if is_connection_error(exc):
                raise
            if len(uids) == 1:  # alone already (a big one, or isolated): park it, go on
                return [], [(uids[0], f"fetch failed: {exc}")]
        fetched: list[FetchedMessage] = []
        failed: list[tuple[int, str]] = []
        for uid in uids:
            try:
                fetched += [_as_fetched(f) for f in self.session.fetch_bodies([uid])]
            except imaplib.IMAP4.error as exc:
                if is_connection_error(exc):
                    raise
                failed.append((uid, f"fetch failed: {exc}"))
        return fetched, failed

    def _park(self, failed: list[tuple[int, str]]) -> None:
        for uid, error in failed:
            state.park(self.folder, uid, error)

    def store_batch(self, fetched: list[FetchedMessage], cursor: int | None) -> None:
        """Store a batch; if that fails, store one by one and park the ones that fail."""
        try:
            self.fetched += state.store_batch(self.folder, fetched, cursor, self.ctx.store)
            return
        except Exception as exc:  # noqa: BLE001 - any failure: retry message by message
            self.ctx.log(f"{self.folder.name}: batch store failed ({exc}); storing one by one")
        for message in fetched:
            try:
                self.fetched += state.store_batch(self.folder, [message], None, self.ctx.store)
            except Exception as exc:  # noqa: BLE001 - park it, the rest goes on
                state.park(self.folder, message.uid, f"store failed: {exc}")
                self.ctx.log(f"{self.folder.name}: UID {message.uid} parked: {exc}")
        if cursor is not None:
            state.advance_cursor(self.folder, cursor)

    def _report(self) -> None:
        self.ctx.progress(FolderProgress(**vars(self.progress)))


def _as_fetched(f: Fetched, raw: bytes | None = None) -> FetchedMessage:
    raw = f.raw if raw is None else raw
    return FetchedMessage(
        uid=f.uid,
        raw=raw,
        flags=f.flags,
        internal_date=f.internal_date,
        size=f.size or len(raw),
        gm_msgid=f.gm_msgid,
        gm_labels=f.gm_labels,
    )
