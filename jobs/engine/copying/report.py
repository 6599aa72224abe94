"""What a sync or restore takes (options) and gives back (per-folder reports and the run report).

The reports have the attributes the job runner reads from a backup report (`state`, `folders`
with `folder`/`state`/`error`/`parked`, `messages_fetched`, `bytes_fetched`, `error`,
`summary()`), so runs of every kind are recorded the same way.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from jobs.engine.copying.mapping import Rule
from jobs.engine.progress import DEFAULT_BATCH_BYTES
from jobs.engine.sizes import size_text


@dataclass
class SyncOptions:
    folders: list[str] | None = None  # source display names or paths; None = all
    include: list[str] = field(default_factory=list)  # fnmatch patterns
    exclude: list[str] = field(default_factory=list)
    since: datetime.date | None = None
    before: datetime.date | None = None
    max_message_size: int | None = None
    skip_trash_and_junk: bool = False
    rules: list[Rule] = field(default_factory=list)
    sync_flags: bool = False  # carry flag changes on the source over on re-runs
    mirror_deletions: bool = False  # delete on the destination what was deleted on the source
    gmail_dedupe: bool = True
    dry_run: bool = False
    verify_fingerprints: bool = True
    # RFC 2047-encode raw 8-bit header bytes before APPEND (headers8bit.py): only when asked.
    encode_8bit_headers: bool = False
    batch_bytes: int = DEFAULT_BATCH_BYTES


@dataclass
class SyncFolderReport:
    folder: str  # source display name
    target: str = ""  # destination display name
    state: str = "done"  # "done" | "failed" | "skipped" | "cancelled"
    on_source: int = 0  # messages selected on the source
    on_destination: int = 0  # of those, how many verification found on the destination
    copied: int = 0
    matched: int = 0  # already on the destination (fingerprint), not copied again
    deduped: int = 0  # Gmail: the same message went to a more specific folder
    too_large: int = 0  # over the size cap: left out on purpose
    flags_updated: int = 0
    deleted: int = 0  # mirrored deletions
    bytes: int = 0
    to_copy: int = 0  # dry run: what a real run would copy
    to_copy_bytes: int = 0
    create: bool = False  # the destination folder does not exist yet
    refused: dict[int, str] = field(default_factory=dict)  # source UID -> server's reason
    missing: list[tuple[int, str]] = field(default_factory=list)  # source UID, why
    # On the destination, but what it serves differs from what was sent: (source UID, name).
    altered: list[tuple[int, str]] = field(default_factory=list)
    error: str = ""

    def refuse_folder(self, reason: Exception | str, advice: str) -> None:
        """The folder cannot be copied (the destination refused to create it, or it would be
        merged with another): none of its messages are, and `advice` says what to do."""
        self.state = "failed"
        count = "1 message was" if self.on_source == 1 else f"{self.on_source:,} messages were"
        self.error = f"{reason}; its {count} not copied. {advice}"

    @property
    def parked(self) -> int:  # the runner's name for "left out, retried next run"
        return len(self.refused)

    @property
    def fetched(self) -> int:
        return self.copied

    def verification(self) -> str:
        if self.state == "skipped":
            return f"skipped: {self.error}"
        if self.state == "failed":
            return f"failed: {self.error}"
        if not self.missing and self.on_destination >= self.on_source:
            return f"all {self.on_source:,} on the destination{self._altered()}"
        reasons = "; ".join(f"UID {uid}: {why}" for uid, why in self.missing[:5])
        more = f" and {len(self.missing) - 5} more" if len(self.missing) > 5 else ""
        return (
            f"{self.on_destination:,} of {self.on_source:,}; missing {reasons}{more}"
            f"{self._altered()}"
        )

    def _altered(self) -> str:
        if not self.altered:
            return ""
        names = "; ".join(f"UID {uid} {name}" for uid, name in self.altered[:5])
        more = f" and {len(self.altered) - 5} more" if len(self.altered) > 5 else ""
        return (
            f", but the destination changed the bytes of {len(self.altered):,}: {names}{more}. "
            "If it changed 8-bit header bytes, the job option “encode 8-bit headers” sends "
            "them encoded"
        )


@dataclass
class SyncReport:
    state: str  # "succeeded" | "partial" | "failed" | "cancelled"
    folders: list[SyncFolderReport]
    messages_fetched: int = 0  # copied
    bytes_fetched: int = 0
    error: str = ""
    dry_run: bool = False
    verb: str = "sync"
    warnings: list[str] = field(default_factory=list)

    @property
    def copied_folders(self) -> list[SyncFolderReport]:
        return [f for f in self.folders if f.state != "skipped"]

    def summary(self) -> str:
        """The line an admin can trust, e.g. "all 48,211 messages of the source are on the
        destination, 0 errors", or what is missing."""
        folders = self.copied_folders
        if self.dry_run:
            create = sum(f.create for f in folders)
            count = sum(f.to_copy for f in folders)
            size = size_text(sum(f.to_copy_bytes for f in folders))
            return (
                f"dry run: would create {create} folder{'s' if create != 1 else ''} and copy "
                f"{count:,} message{'s' if count != 1 else ''} ({size}); nothing changed"
            )
        source = sum(f.on_source for f in folders)
        present = sum(min(f.on_destination, f.on_source) for f in folders)
        failed = [f for f in folders if f.state == "failed"]
        missing = sum(len(f.missing) for f in folders)
        altered = sum(len(f.altered) for f in folders)
        errors = len(failed) + sum(len(f.refused) for f in folders)
        what = "of the source" if self.verb == "sync" else "selected in the archive"
        clean = not failed and not missing and not altered
        if clean and present == source and self.state == "succeeded":
            return f"all {source:,} messages {what} are on the destination, 0 errors"
        parts = [f"{present:,} of {source:,} messages {what} are on the destination"]
        if missing:
            parts.append(f"{missing:,} missing (see the folders)")
        if altered:
            parts.append(f"{altered:,} changed by the destination (see the folders)")
        if failed:
            parts.append(f"{len(failed)} folder{'s' if len(failed) > 1 else ''} failed")
        parts.append(f"{errors} error{'s' if errors != 1 else ''}")
        if self.state == "cancelled":
            parts.append("cancelled")
        return "; ".join(parts)
