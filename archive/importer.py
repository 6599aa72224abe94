"""Importing mail files into an account's archive: mbox, .eml, zip (of .eml or a Maildir),
Maildir folders and Apple Mail `.mbox` packages.

Memory stays flat: an mbox is read one message at a time, zip members one at a time, and
messages go to `archive.ingest.store_messages` in small batches (so they are indexed and
threaded like backed-up mail). The same bytes already archived for the account are not stored
again. A file that is not mail (no header block, binary: `archive.mailsniff`) is refused with
a per-file error, and an mbox entry with no message (a truncated or malformed mbox) is skipped
with a warning, both in the report. A bad file is reported by name and the rest goes on; a zip
whose member names try to leave their folder (zip slip) or whose sizes explode (zip bomb) is
refused whole: nothing from it is stored. Nothing is ever written to disk under a name that
came from an upload.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from archive.export import iter_mboxrd
from archive.folders import decode_folder_name
from archive.ingest import FetchedMessage, store_messages
from archive.mailsniff import not_mail_reason
from archive.models import Folder, Message

MAX_MESSAGE_BYTES = 256 * 1024 * 1024  # one message; larger ones are reported, not stored
MAX_ZIP_TOTAL = 20 * 1024**3  # decompressed bytes of one zip
MAX_ZIP_RATIO = 200  # decompressed/compressed for any member over 1 MB
MAX_ZIP_MEMBERS = 1_000_000
BATCH_MESSAGES = 100
BATCH_BYTES = 32 * 1024 * 1024
DEFAULT_FOLDER = "Imported"
_MAILDIR_FLAGS = {"S": "\\Seen", "R": "\\Answered", "F": "\\Flagged", "T": "\\Deleted",
                  "D": "\\Draft"}  # fmt: skip


class ImportRefused(Exception):
    """The whole file is refused (zip slip, zip bomb, unreadable archive)."""


@dataclass
class ImportReport:
    imported: int = 0
    duplicates: int = 0
    skipped: int = 0  # mbox entries with no message, each also listed as a warning
    bytes_read: int = 0
    problems: list[dict[str, str]] = field(default_factory=list)

    def problem(self, name: str, error: str) -> None:
        if len(self.problems) < 1000:
            self.problems.append({"file": name[:300], "error": error[:500]})

    def skip(self, name: str, why: str) -> None:
        self.skipped += 1
        self.problem(name, f"warning: {why}")


@dataclass
class Item:
    """One message found in an input, with the folder it belongs to (relative name)."""

    raw: bytes
    folder: str = ""
    flags: list[str] = field(default_factory=list)
    source: str = ""
    entry: int = 0  # position in its mbox, from 1; 0 for a file that is one message

    @property
    def where(self) -> str:
        return f"{self.source} (message {self.entry})" if self.entry else self.source


# -- sources ----------------------------------------------------------------------------------


def sniff(head: bytes, name: str) -> str:
    """ "zip", "mbox" or "eml" from a file's first bytes (and its name as a tie-breaker)."""
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip"
    if head.lstrip(b"\xef\xbb\xbf").startswith(b"From ") or name.lower().endswith(
        (".mbox", ".mbx")
    ):
        return "mbox"
    return "eml"


def items_from_stream(f: BinaryIO, name: str, report: ImportReport) -> Iterator[Item]:
    """Messages in one uploaded or server file, whatever its kind."""
    head = f.read(8)
    f.seek(0)
    kind = sniff(head, name)
    if kind == "zip":
        yield from items_from_zip(f, report)
    elif kind == "mbox":
        yield from items_from_mbox(f, name, report)
    else:
        raw = f.read(MAX_MESSAGE_BYTES + 1)
        if len(raw) > MAX_MESSAGE_BYTES:
            report.problem(name, "larger than the message size limit")
        else:
            yield Item(raw, source=name)


def items_from_mbox(
    f: BinaryIO, name: str, report: ImportReport, folder: str = ""
) -> Iterator[Item]:
    """The entries of an mbox, numbered; a file without a single `From ` line is reported."""
    entry = 0
    for entry, raw in enumerate(iter_mboxrd(f), start=1):
        yield Item(raw, folder=folder, source=name, entry=entry)
    if entry == 0:
        report.problem(name, "no messages: not an mbox file (no 'From ' line)")


def check_member_name(name: str) -> PurePosixPath:
    """A zip member's path, refused when it is absolute or climbs out with `..` (zip slip)."""
    clean = name.replace("\\", "/")
    path = PurePosixPath(clean)
    if clean.startswith("/") or (len(clean) > 1 and clean[1] == ":") or ".." in path.parts:
        raise ImportRefused(f"The zip tries to write outside its folder ({name[:200]!r}).")
    if "\x00" in clean:
        raise ImportRefused("The zip has a member name with a NUL byte.")
    return path


def check_zip(zf: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The members of a zip, after refusing zip slip and zip bombs up front."""
    members = zf.infolist()
    if len(members) > MAX_ZIP_MEMBERS:
        raise ImportRefused("The zip has too many members.")
    total = 0
    for info in members:
        check_member_name(info.filename)
        total += info.file_size
        big = info.file_size > 1024 * 1024
        if big and info.file_size > MAX_ZIP_RATIO * max(info.compress_size, 1):
            raise ImportRefused(
                f"The zip member {info.filename[:200]!r} expands {info.file_size:,} bytes from "
                f"{info.compress_size:,}: refused as a zip bomb."
            )
    if total > MAX_ZIP_TOTAL:
        raise ImportRefused(f"The zip expands to {total:,} bytes, over the import limit.")
    return members


def items_from_zip(f: BinaryIO, report: ImportReport) -> Iterator[Item]:
    try:
        zf = zipfile.ZipFile(f)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise ImportRefused(f"Not a readable zip file ({e}).") from None
    with zf:
        for info in check_zip(zf):
            if info.is_dir() or _ignored(info.filename):
                continue
            folder, flags = _place(PurePosixPath(info.filename.replace("\\", "/")))
            if info.file_size > MAX_MESSAGE_BYTES:
                report.problem(info.filename, "larger than the message size limit")
                continue
            try:
                with zf.open(info) as member:
                    # Read no more than declared: zipfile checks sizes and CRC as it goes.
                    data = member.read(info.file_size + 1)
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as e:
                report.problem(info.filename, f"cannot be read from the zip: {e}")
                continue
            if len(data) > info.file_size:
                raise ImportRefused("A zip member is larger than it declares: refused.")
            name = info.filename
            if name.lower().endswith((".mbox", ".mbx")) or PurePosixPath(name).name == "mbox":
                yield from items_from_mbox(io.BytesIO(data), name, report, folder)
            else:
                yield Item(data, folder=folder, flags=flags, source=name)


def _ignored(name: str) -> bool:
    base = PurePosixPath(name).name
    return (
        base.startswith(".")
        or base in ("manifest.csv", "dovecot-uidlist", "dovecot-keywords", "maildirfolder")
        or base.startswith("dovecot")
        or "/tmp/" in f"/{name}"
        or "__MACOSX" in name
    )


def _place(path: PurePosixPath) -> tuple[str, list[str]]:
    """(folder relative name, flags) of a file: Maildir `cur`/`new` and `:2,FLAGS` understood."""
    parts = list(path.parts[:-1])
    flags: list[str] = []
    if parts and parts[-1] in ("cur", "new"):
        if parts[-1] == "cur" and ":2," in path.name:
            letters = path.name.rsplit(":2,", 1)[1]
            flags = [_MAILDIR_FLAGS[c] for c in letters if c in _MAILDIR_FLAGS]
        parts = parts[:-1]
        # Maildir++ subfolders are ".Sent", ".Lists.work" (dots are the hierarchy).
        if parts and parts[-1].startswith(".") and len(parts[-1]) > 1:
            parts = parts[:-1] + [decode_folder_name(p) for p in parts[-1][1:].split(".")]
    return "/".join(p for p in parts if p), flags


def items_from_path(path: Path, report: ImportReport) -> Iterator[Item]:
    """Messages under a server path: a file, a Maildir, an Apple Mail .mbox package, or a
    folder of any of these (folders keep their relative names)."""
    if path.is_file():
        with path.open("rb") as f:
            yield from items_from_stream(f, path.name, report)
        return
    if (path / "mbox").is_file():  # an Apple Mail / Thunderbird-exported .mbox package
        with (path / "mbox").open("rb") as f:
            yield from items_from_stream(f, path.name, report)
        return
    for dirpath, dirnames, filenames in os.walk(path, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        here = Path(dirpath)
        rel = here.relative_to(path)
        for name in sorted(filenames):
            if _ignored(name) or "tmp" in rel.parts:
                continue
            file = here / name
            if file.is_symlink():
                report.problem(str(rel / name), "symbolic links are not followed")
                continue
            folder, flags = _place(PurePosixPath(*rel.parts, name))
            folder = folder.removesuffix(".mbox") if file.name == "mbox" else folder
            try:
                with file.open("rb") as f:
                    for item in items_from_stream(f, str(rel / name), report):
                        item.folder = item.folder or folder
                        item.flags = item.flags or flags
                        yield item
            except ImportRefused as e:
                report.problem(str(rel / name), str(e))
            except OSError as e:
                report.problem(str(rel / name), f"cannot be read: {e.strerror or e}")


# -- storing ----------------------------------------------------------------------------------


def import_folder(account, name: str) -> Folder:
    """The archive folder imported mail goes to (created without a UIDVALIDITY, like POP3)."""
    name = name.strip().strip("/") or DEFAULT_FOLDER
    folder = Folder.objects.filter(account=account, raw_name=name, uidvalidity__isnull=True).first()
    if folder is None:
        folder = Folder.objects.create(account=account, name=name, raw_name=name, delimiter="/")
    return folder


class Importer:
    """Takes Items, dedupes them by bytes within the account, stores them in batches."""

    def __init__(self, account, folder_name: str, report: ImportReport, progress=None):
        self.account = account
        self.base = (folder_name or DEFAULT_FOLDER).strip().strip("/")
        self.report = report
        self.progress = progress
        self.pending: dict[str, list[tuple[str, Item]]] = {}
        self.pending_bytes = 0
        self.seen: set[str] = set()

    def add(self, item: Item) -> None:
        self.report.bytes_read += len(item.raw)
        if not self.is_mail(item):
            return
        sha = hashlib.sha256(item.raw).hexdigest()
        if sha in self.seen:
            self.report.duplicates += 1
            return
        self.seen.add(sha)
        folder = f"{self.base}/{item.folder}" if item.folder else self.base
        self.pending.setdefault(folder, []).append((sha, item))
        self.pending_bytes += len(item.raw)
        count = sum(len(v) for v in self.pending.values())
        if count >= BATCH_MESSAGES or self.pending_bytes >= BATCH_BYTES:
            self.flush()

    def is_mail(self, item: Item) -> bool:
        """True for a message; anything else goes into the report, never into the archive."""
        reason = not_mail_reason(item.raw)
        if reason is None:
            return True
        if item.entry and not item.raw.strip():
            self.report.skip(item.where, "an mbox entry with no message was skipped")
        else:
            self.report.problem(item.where, reason)
        return False

    def flush(self) -> None:
        for folder_name, entries in self.pending.items():
            self._store(import_folder(self.account, folder_name), entries)
        self.pending, self.pending_bytes = {}, 0
        if self.progress:
            self.progress(self.report)

    def _store(self, folder: Folder, entries: list[tuple[str, Item]]) -> None:
        known = set(
            Message.objects.filter(
                folder__account=self.account, blob_id__in=[sha for sha, _ in entries]
            ).values_list("blob_id", flat=True)
        )
        fresh = [item for sha, item in entries if sha not in known]
        self.report.duplicates += len(entries) - len(fresh)
        if not fresh:
            return
        with transaction.atomic():
            folder = Folder.objects.select_for_update().get(pk=folder.pk)
            now = timezone.now()
            batch = [
                FetchedMessage(
                    uid=folder.highest_uid + i,
                    raw=item.raw,
                    flags=item.flags,
                    internal_date=now,
                    size=len(item.raw),
                )  # fmt: skip
                for i, item in enumerate(fresh, start=1)
            ]
            created = store_messages(folder, batch)
            Folder.objects.filter(pk=folder.pk).update(
                highest_uid=F("highest_uid") + len(batch), last_synced_at=now
            )
        self.report.imported += len(created)


def run_import(
    account,
    items: Iterator[Item],
    folder_name: str = DEFAULT_FOLDER,
    progress: Callable[[ImportReport], None] | None = None,
    report: ImportReport | None = None,
) -> ImportReport:
    """Store every item; a refused source (ImportRefused) is reported and stores nothing
    more from it. Items already buffered from a refused zip are dropped."""
    report = report or ImportReport()
    importer = Importer(account, folder_name, report, progress)
    for item in items:
        importer.add(item)
    importer.flush()
    return report


def import_uploads(account, files: list, folder_name: str = DEFAULT_FOLDER) -> ImportReport:
    """Uploaded files (Django UploadedFile objects), each imported on its own, so one refused
    zip does not stop the others. A zip is checked whole before any of its messages is read."""
    report = ImportReport()
    for upload in files:
        name = os.path.basename(upload.name or "upload")
        try:
            run_import(account, items_from_stream(upload, name, report), folder_name, report=report)
        except ImportRefused as e:
            report.problem(name, str(e))
    return report


def import_path(account, path: Path, folder_name: str = "", progress=None) -> ImportReport:
    """A file or folder on the server (manage.py import_mail, the import folder)."""
    report = ImportReport()
    folder_name = folder_name or path.name.removesuffix(".mbox") or DEFAULT_FOLDER
    try:
        if path.is_file() and sniff(path.open("rb").read(8), path.name) == "zip":
            with path.open("rb") as f:  # check the whole zip before storing anything from it
                check_zip(zipfile.ZipFile(f))
        run_import(account, items_from_path(path, report), folder_name, progress, report)
    except ImportRefused as e:
        report.problem(path.name, str(e))
    except zipfile.BadZipFile as e:
        report.problem(path.name, f"not a readable zip file ({e})")
    return report


def total_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def list_import_dir(root: Path | None) -> list[dict]:
    """What the admin put in the import folder (top level only), for the import page."""
    if root is None or not root.is_dir():
        return []
    out = []
    for entry in sorted(root.iterdir(), key=lambda p: p.name.casefold()):
        if entry.name.startswith(".") or entry.is_symlink():
            continue
        kind = "folder" if entry.is_dir() else sniff(entry.open("rb").read(8), entry.name)
        if entry.is_dir() and (entry / "mbox").is_file():
            kind = "mbox package"
        out.append({"name": entry.name, "kind": kind, "size": total_size(entry)})
    return out


def resolve_import_path(root: Path, name: str) -> Path:
    """A top-level entry of the import folder by name; never anything outside it."""
    if not name or "/" in name or "\\" in name or name in (".", "..") or "\x00" in name:
        raise ImportRefused("Choose a file or folder listed in the import folder.")
    path = root / name
    if path.is_symlink() or not path.exists() or path.resolve().parent != root.resolve():
        raise ImportRefused("Choose a file or folder listed in the import folder.")
    return path
