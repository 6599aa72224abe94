"""Sync one source folder into its destination folder, on one pair of connections.

The order of a pass: EXAMINE the source and list the UIDs selected (date range, size cap);
leave out what the UID map says is already copied; of the rest, recognise what is already on
the destination by fingerprint (a hand-made copy, or an APPEND whose record a killed run never
wrote) and what Gmail shows in a more specific folder; APPEND the remainder in byte-bounded
batches, each recorded in the UID map as soon as the server accepted it; then carry over flag
changes and deletions when the job asks for them; and end with a verification of the folder.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from jobs.engine import fingerprint, syncstate
from jobs.engine.dest import Destination, Outgoing
from jobs.engine.folder import Cancelled
from jobs.engine.imap import ImapSession, batches_by_bytes
from jobs.engine.mapping import FolderMap
from jobs.engine.report import FolderProgress
from jobs.engine.syncreport import SyncFolderReport, SyncOptions

How = syncstate.How


@dataclass
class SyncContext:
    pair: syncstate.Pair
    options: SyncOptions
    progress: Callable[[FolderProgress], None]
    should_stop: Callable[[], bool]
    log: Callable[[str], None]
    # Gmail: X-GM-MSGID -> destination folder, for messages copied by this run or earlier ones.
    gmail_seen: dict[int, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def source_fingerprints(session: ImapSession, uids: list[int]) -> dict[int, str]:
    """Fingerprints of source messages from a header FETCH (no body download)."""
    own = getattr(session, "fingerprints", None)
    if own is not None:  # test fakes
        return own(uids)
    return Destination.fingerprints_of(session.client, uids)


class FolderSync:
    def __init__(self, source: ImapSession, dest: Destination, fmap: FolderMap, ctx: SyncContext):
        self.source, self.dest, self.map, self.ctx = source, dest, fmap, ctx
        self.options = ctx.options
        self.raw = fmap.source.raw_name
        self.target = fmap.target_raw
        self.report = SyncFolderReport(fmap.source.name, fmap.target_name, create=not fmap.exists)
        self.progress = FolderProgress(fmap.source.name, "running")
        self.uidvalidity = 0
        self.dest_uidvalidity: int | None = None

    def run(self) -> SyncFolderReport:
        info = self.source.examine(self.raw)
        self.uidvalidity = info.uidvalidity
        selected, meta = self._selected()
        dest_exists = self._open_destination()
        before = syncstate.mapped(self.ctx.pair, self.raw, self.uidvalidity)
        candidates = [u for u in selected if u not in before]
        candidates = self._dedupe_gmail(candidates, meta)
        candidates = self._match_existing(candidates, dest_exists)
        self.report.to_copy = len(candidates)
        self.report.to_copy_bytes = sum(meta[u].size for u in candidates)
        if self.options.dry_run:
            self.report.on_source = len(selected)
            return self.report
        self._copy(candidates, meta)
        self._carry_over(before)
        self._verify(selected)
        return self.report

    # -- what to copy ----------------------------------------------------------------------

    def _selected(self) -> tuple[list[int], dict]:
        opts = self.options
        uids = self.source.search_uids(since=opts.since, before=opts.before)
        meta = self.source.fetch_meta(uids) if uids else {}
        if opts.max_message_size:
            large = {u for u, m in meta.items() if m.size > opts.max_message_size}
            self.report.too_large = len(large)
            uids = [u for u in uids if u not in large]
        return [u for u in uids if u in meta], meta

    def _open_destination(self) -> bool:
        """Make sure the destination folder exists (not in a dry run); True if it has mail."""
        if not self.map.exists:
            if self.options.dry_run:
                return False
            self.dest.create(self.target)
            self.ctx.log(
                f"{self.map.source.name}: created {self.map.target_name} on the destination"
            )
        info = self.dest.session.examine(self.target)
        self.dest_uidvalidity = info.uidvalidity
        dropped = syncstate.forget_stale(
            self.ctx.pair, self.raw, self.uidvalidity, info.uidvalidity
        )
        if dropped:
            self.ctx.log(
                f"{self.map.source.name}: a folder was re-created; matching by fingerprint"
            )
        return info.exists > 0

    def _dedupe_gmail(self, candidates: list[int], meta: dict) -> list[int]:
        """Gmail shows a message in every label: copy it once, into the first (most specific)."""
        if not (self.source.gmail and self.options.gmail_dedupe) or not candidates:
            return candidates
        ids = {meta[u].gm_msgid for u in candidates if meta[u].gm_msgid}
        with self.ctx.lock:
            unknown = ids - self.ctx.gmail_seen.keys()
            self.ctx.gmail_seen.update(syncstate.known_gmail(self.ctx.pair, unknown))
            seen = dict(self.ctx.gmail_seen)
        rest, entries = [], []
        for uid in candidates:
            gm = meta[uid].gm_msgid
            if gm and gm in seen:
                entries.append(_entry(uid, seen[gm], None, None, "", gm, (), How.DEDUPED))
            else:
                rest.append(uid)
        self.report.deduped += len(entries)
        if not self.options.dry_run:
            syncstate.record(self.ctx.pair, self.raw, self.uidvalidity, entries)
        return rest

    def _match_existing(self, candidates: list[int], dest_exists: bool) -> list[int]:
        """Messages already on the destination (same fingerprint, not standing for another
        source message) are recorded as matched instead of copied again."""
        if not candidates or not dest_exists:
            return candidates
        pair = self.ctx.pair
        claimed = syncstate.claimed_dest_uids(pair, self.target, self.dest_uidvalidity)
        free: dict[str, list[int]] = {}
        for uid, fp in sorted(self.dest.fingerprints().items()):
            if uid not in claimed:
                free.setdefault(fp, []).append(uid)
        source_fps = source_fingerprints(self.source, candidates)
        rest, entries = [], []
        for uid in candidates:
            fp = source_fps.get(uid, "")
            if free.get(fp):
                dest_uid = free[fp].pop(0)
                entries.append(
                    _entry(
                        uid, self.target, self.dest_uidvalidity, dest_uid, fp, None, (), How.MATCHED
                    )
                )
            else:
                rest.append(uid)
        self.report.matched += len(entries)
        if not self.options.dry_run:
            syncstate.record(pair, self.raw, self.uidvalidity, entries)
        return rest

    # -- copying ---------------------------------------------------------------------------

    def _copy(self, uids: list[int], meta: dict) -> None:
        sizes = {u: meta[u].size for u in uids}
        self.progress.total = len(uids)
        self._report_progress()
        for batch in batches_by_bytes(sizes, self.options.batch_bytes):
            if self.ctx.should_stop():
                raise Cancelled
            fetched = self.source.fetch_bodies(batch)
            outgoing = [Outgoing(f.uid, f.raw, f.flags, f.internal_date) for f in fetched]
            results = self.dest.append(self.target, outgoing)
            self._record_batch(fetched, results)
            self.dest.raise_if_over_quota(results)
            self.progress.done += len(batch)
            self.progress.bytes += sum(len(f.raw) for f in fetched)
            self.report.bytes = self.progress.bytes
            self._report_progress()

    def _record_batch(self, fetched: list, results: list) -> None:
        entries, gmail = [], {}
        for f, result in zip(fetched, results, strict=True):
            if not result.ok:
                self.report.refused[f.uid] = result.error
                self.ctx.log(f"{self.map.source.name}: UID {f.uid} refused: {result.error}")
                continue
            fp = fingerprint.of_message(f.raw, f.size)
            validity = result.uidvalidity or self.dest_uidvalidity
            entries.append(
                _entry(
                    f.uid, self.target, validity, result.uid, fp, f.gm_msgid, f.flags, How.COPIED
                )
            )
            if f.gm_msgid:
                gmail[f.gm_msgid] = self.target
        syncstate.record(self.ctx.pair, self.raw, self.uidvalidity, entries)
        self.report.copied += len(entries)
        if gmail:
            with self.ctx.lock:
                self.ctx.gmail_seen.update(gmail)

    def _report_progress(self) -> None:
        self.ctx.progress(FolderProgress(**vars(self.progress)))

    # -- flags and deletions on re-runs ----------------------------------------------------

    def _carry_over(self, before: dict[int, syncstate.Mapped]) -> None:
        mine = {
            uid: m
            for uid, m in before.items()
            if m.how != How.DEDUPED and m.dest_uid and m.dest_folder == self.target
            and m.dest_uidvalidity == self.dest_uidvalidity
        }  # fmt: skip
        if not mine or not (self.options.sync_flags or self.options.mirror_deletions):
            return
        flags, _ = self.source.fetch_flags("1:*")
        self.dest.client.select_folder(self.target, readonly=False)
        if self.options.sync_flags:
            changed = {
                uid: sorted(flags[uid])
                for uid, m in mine.items()
                if uid in flags and set(flags[uid]) != set(m.flags)
            }
            self.dest.store_flags({mine[uid].dest_uid: f for uid, f in changed.items()})
            syncstate.update_flags(self.ctx.pair, self.raw, self.uidvalidity, changed)
            self.report.flags_updated = len(changed)
        if self.options.mirror_deletions:
            gone = [uid for uid in mine if uid not in flags]
            self.report.deleted = self.dest.delete([mine[uid].dest_uid for uid in gone])
            syncstate.forget(self.ctx.pair, self.raw, self.uidvalidity, gone)
        if self.report.flags_updated or self.report.deleted:
            self.ctx.log(
                f"{self.map.source.name}: {self.report.flags_updated} flag changes and "
                f"{self.report.deleted} deletions carried over"
            )

    # -- verification ----------------------------------------------------------------------

    def _verify(self, selected: list[int]) -> None:
        """Every selected source message must be recorded, and its destination UID must still
        hold a message with the same fingerprint."""
        now = syncstate.mapped(self.ctx.pair, self.raw, self.uidvalidity)
        info = self.dest.session.examine(self.target)
        here = set(self.dest.session.search_uids()) if info.exists else set()
        check = [
            m.dest_uid
            for m in now.values()
            if m.dest_folder == self.target and m.dest_uid in here and m.fingerprint
        ]
        fps = self.dest.fingerprints(check) if check and self.options.verify_fingerprints else {}
        report = self.report
        report.on_source = len(selected)
        for uid in selected:
            why = _missing_reason(now.get(uid), self.target, info.uidvalidity, here, fps)
            if why is None:
                report.on_destination += 1
            else:
                report.missing.append((uid, report.refused.get(uid, why)))


def _missing_reason(m, target: str, uidvalidity: int, here: set[int], fps: dict) -> str | None:
    if m is None:
        return "not copied"
    if m.how == How.DEDUPED or m.dest_folder != target or m.dest_uid is None:
        return None  # in another folder (Gmail label, earlier mapping), or no UIDPLUS to check
    if m.dest_uidvalidity != uidvalidity or m.dest_uid not in here:
        return "deleted from the destination after it was copied"
    if fps and m.fingerprint and fps.get(m.dest_uid) != m.fingerprint:
        return f"destination UID {m.dest_uid} holds a different message"
    return None


def _entry(uid, folder, validity, dest_uid, fp, gm, flags, how) -> dict:
    return {
        "source_uid": uid,
        "dest_folder": folder,
        "dest_uidvalidity": validity,
        "dest_uid": dest_uid,
        "fingerprint": fp,
        "gm_msgid": gm,
        "flags": sorted(flags),
        "how": how,
    }
