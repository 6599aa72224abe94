"""Sync one source folder into its destination folder, on one pair of connections.

The order of a pass: EXAMINE the source and list the UIDs selected (date range, size cap);
leave out what the UID map says is already copied; of the rest, recognise what is already on
the destination by fingerprint (a hand-made copy, or an APPEND whose record a killed run never
wrote) and what Gmail shows in a more specific folder; APPEND the remainder in byte-bounded
batches, each recorded in the UID map as soon as the server accepted it; then carry over flag
changes and deletions when the job asks for them; and end with a verification of the folder.
A source message whose FETCH breaks the connection every time is found as in a backup
(`folder.Suspects`) and left out, reported as refused, so the rest of the folder is copied.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import closing, suppress
from dataclasses import dataclass, field

from django.db import connection

from jobs.engine.batching import batches_by_bytes
from jobs.engine.copying import fingerprint, served
from jobs.engine.copying.destination import (
    Destination,
    FolderRefused,
    Outgoing,
    sizes_of,
)
from jobs.engine.copying.headers8bit import encode_8bit_headers
from jobs.engine.copying.mapping import FolderMap, renaming_hint
from jobs.engine.copying.report import SyncFolderReport, SyncOptions
from jobs.engine.drops import Cancelled, Suspects, dropped_error, is_connection_error
from jobs.engine.prefetch import Behind, prefetched
from jobs.engine.progress import FolderProgress
from jobs.engine.sync import state as syncstate
from mail.imap import ImapSession, Meta

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
    # Source folder raw name -> UIDs in flight when its connection broke, across reconnects.
    suspects: dict[str, Suspects] = field(default_factory=dict)


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
        # Destination UID -> (source UID, fingerprint sent, loose fingerprint) of this run.
        self.sent: dict[int, tuple[int, str, str]] = {}
        self.sent_bytes: dict[int, served.Sent] = {}  # the same UIDs: what their bytes were
        self.suspects = ctx.suspects.setdefault(self.raw, Suspects())

    def run(self) -> SyncFolderReport:
        info = self.source.examine(self.raw)
        self.uidvalidity = info.uidvalidity
        selected = self._selected()
        try:
            dest_exists = self._open_destination()
        except FolderRefused as exc:
            self.report.on_source = len(selected)
            hint = renaming_hint(self.map.source_path)
            advice = f"To copy them under another name, add a folder mapping rule such as '{hint}'."
            self.report.refuse_folder(exc, advice)
            self.ctx.log(f"{self.map.source.name}: {self.report.error}")
            return self.report
        before = syncstate.mapped(self.ctx.pair, self.raw, self.uidvalidity)
        candidates = [u for u in selected if u not in before]
        meta = self._meta(candidates)
        candidates = [u for u in candidates if u in meta]  # gone since the SEARCH: not copied
        candidates = self._dedupe_gmail(candidates, meta)
        candidates = self._match_existing(candidates, dest_exists)
        candidates = self._leave_out_condemned(candidates)
        self.report.to_copy = len(candidates)
        self.report.to_copy_bytes = sum(meta[u].size for u in candidates)
        if self.options.dry_run:
            self.report.on_source = len(selected)
            return self.report
        self._copy(candidates, meta)
        self._confirm_copies()
        self._carry_over(before)
        self._verify(selected)
        return self.report

    # -- what to copy ----------------------------------------------------------------------

    def _selected(self) -> list[int]:
        opts = self.options
        uids = self.source.search_uids(since=opts.since, before=opts.before)
        if opts.max_message_size and uids:
            sizes = self._meta(uids)
            large = {u for u, m in sizes.items() if m.size > opts.max_message_size}
            self.report.too_large = len(large)
            uids = [u for u in uids if u not in large]
        return uids

    def _meta(self, uids: list[int]) -> dict[int, Meta]:
        """Sizes (and Gmail ids) of these messages: one cheap FETCH, no bodies."""
        if not uids:
            return {}
        if self.source.gmail or not hasattr(self.source, "client"):
            return self.source.fetch_meta(uids)
        return {u: Meta(u, size) for u, size in sizes_of(self.source.client, uids).items()}

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
            self.ctx.pair, self.raw, self.uidvalidity, self.target, info.uidvalidity
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

    def _leave_out_condemned(self, candidates: list[int]) -> list[int]:
        """What broke the source connection every time it was fetched is not fetched again in
        this run: it is reported as refused (sync has no parking table, so the next run tries
        it again, at the same bounded cost)."""
        suspects = self.suspects
        condemned = set(suspects.condemned()) - suspects.parked
        suspects.parked |= condemned
        suspects.progressed |= bool(condemned)
        for uid in sorted(suspects.parked):
            self.report.refused[uid] = "source: " + dropped_error(suspects.drops[uid])
            self.ctx.log(f"{self.map.source.name}: UID {uid} left out: {self.report.refused[uid]}")
        return [u for u in candidates if u not in suspects.parked]

    # -- copying ---------------------------------------------------------------------------

    def _copy(self, uids: list[int], meta: dict) -> None:
        """Bodies are read from the source one batch ahead of the APPENDs, and what the
        destination accepted is recorded in the UID map one batch behind them, so neither
        server waits for our database. (A killed run's APPENDs that were not recorded yet are
        found on the destination by fingerprint on the next run.)"""
        sizes = {u: meta[u].size for u in uids}
        # The destination folder stays selected (read-write once the first APPEND opens it).
        self.progress.total = len(uids)
        self.progress.total_bytes = self.progress.bytes + sum(sizes.values())  # "y of Z MB"
        self._report_progress()
        batches = self._batches(sizes)
        recorder = Behind(
            lambda item: self._record_batch(*item), on_exit=lambda: connection.close()
        )
        try:
            # closing(): after an error the reader thread stops before the session is dropped.
            with closing(prefetched(self._fetch, batches)) as ahead:
                self._copy_batches(ahead, recorder)
        except BaseException:
            with suppress(BaseException):
                recorder.close()  # what was accepted is recorded before the error goes up
            raise
        recorder.close()
        if self.ctx.should_stop():
            raise Cancelled

    def _copy_batches(self, ahead, recorder: Behind) -> None:
        for fetched in ahead:
            if self.ctx.should_stop():
                raise Cancelled
            if self.options.encode_8bit_headers:
                for f in fetched:  # what is recorded and checked is what is sent
                    f.raw = encode_8bit_headers(f.raw)
                    f.size = len(f.raw)
            outgoing = [Outgoing(f.uid, f.raw, f.flags, f.internal_date) for f in fetched]
            results = self.dest.append(self.target, outgoing)
            recorder.put((fetched, results))
            self.dest.raise_if_over_quota(results)
            self.suspects.progressed = True
            self.progress.done += len(fetched)
            self.progress.bytes += sum(len(f.raw) for f in fetched)
            self.report.bytes = self.progress.bytes
            self._report_progress()

    def _batches(self, sizes: dict[int, int]):
        """Batches by bytes; one message at a time in a batch that keeps breaking the source
        connection."""
        for batch in batches_by_bytes(sizes, self.options.batch_bytes):
            if self.suspects.isolate(batch):
                yield from ([uid] for uid in batch)
            else:
                yield batch

    def _fetch(self, batch: list[int]) -> list:
        if self.ctx.should_stop():
            return []
        try:
            return self.source.fetch_bodies(batch)
        except Exception as exc:
            if is_connection_error(exc):
                self.suspects.dropped(batch)  # these were in flight when it broke
            raise

    def _record_batch(self, fetched: list, results: list) -> None:
        """Record what the destination accepted (checked against what it holds at the end)."""
        entries, gmail = [], {}
        for f, r in zip(fetched, results, strict=True):
            if not r.ok:
                self.report.refused[f.uid] = r.error
                self.ctx.log(f"{self.map.source.name}: UID {f.uid} refused: {r.error}")
                continue
            fp, loose = fingerprint.both_of_message(f.raw, f.size)
            validity = r.uidvalidity or self.dest_uidvalidity
            entries.append(
                _entry(f.uid, self.target, validity, r.uid, fp, f.gm_msgid, f.flags, How.COPIED)
            )
            if r.uid and self.options.verify_fingerprints:
                self.sent[r.uid] = (f.uid, fp, loose)
                self.sent_bytes[r.uid] = served.Sent.of(f.uid, f.raw)
            if f.gm_msgid:
                gmail[f.gm_msgid] = self.target
        syncstate.record(self.ctx.pair, self.raw, self.uidvalidity, entries)
        self.report.copied += len(entries)
        if gmail:
            with self.ctx.lock:
                self.ctx.gmail_seen.update(gmail)

    def _confirm_copies(self) -> None:
        """Read back what the destination serves at each UID it gave this run (served.py).
        Bytes that differ from what was sent beyond line endings are reported by message. A
        server that rewrote line endings holds the same message with another size: its own
        fingerprint is recorded. A UID holding another message is recorded as a mismatch,
        which verification reports as missing."""
        if not self.sent:
            return
        fixes: dict[int, str] = {}
        held = served.served_back(self.dest, self.target, self.sent_bytes, self.options.batch_bytes)
        for dest_uid, raw in held:
            source_uid, expected, loose = self.sent.pop(dest_uid)
            header = fingerprint.header_section(raw)
            got = fingerprint.fingerprint(header, len(raw))
            if got != expected:
                same = fingerprint.fingerprint(header, None) == loose
                fixes[source_uid] = got if same else "mismatch:" + expected[:23]
            sent = self.sent_bytes[dest_uid]
            another = fixes.get(source_uid, "").startswith("mismatch:")  # reported as missing
            if not another and not served.unchanged(sent, raw):
                self.report.altered.append((source_uid, sent.name))
                self.ctx.log(
                    f"{self.map.source.name}: UID {source_uid} {sent.name}: the destination "
                    "serves other bytes than were sent"
                )
        for source_uid, expected, _loose in self.sent.values():  # not served back at all
            fixes[source_uid] = "mismatch:" + expected[:23]
        syncstate.set_fingerprints(self.ctx.pair, self.raw, self.uidvalidity, fixes)

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
        exist. A UID never names another message within one UIDVALIDITY, and what each UID
        holds was checked by fingerprint when it was copied or matched, so existence suffices."""
        now = syncstate.mapped(self.ctx.pair, self.raw, self.uidvalidity)
        info = self.dest.session.examine(self.target)
        here = set(self.dest.session.search_uids()) if info.exists else set()
        report = self.report
        report.on_source = len(selected)
        for uid in selected:
            why = _missing_reason(now.get(uid), self.target, info.uidvalidity, here)
            if why is None:
                report.on_destination += 1
            else:
                report.missing.append((uid, report.refused.get(uid, why)))


def _missing_reason(m, target: str, uidvalidity: int, here: set[int]) -> str | None:
    if m is None:
        return "not copied"
    if m.how == How.DEDUPED or m.dest_folder != target or m.dest_uid is None:
        return None  # in another folder (Gmail label, earlier mapping), or no UIDPLUS to check
    if m.dest_uidvalidity != uidvalidity or m.dest_uid not in here:
        return "deleted from the destination after it was copied"
    if m.fingerprint.startswith("mismatch:"):
        return f"destination UID {m.dest_uid} holds a different message than was sent"
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
