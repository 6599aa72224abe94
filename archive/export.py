"""Exports of archived messages as a zip: one `.eml` per message (exact bytes) or mboxrd files.

Streamed end to end: messages are read from the blob store in chunks and written into the zip
as they come, the manifest is spooled to a temporary file, so memory stays flat for an archive of
any size. The output may be a non-seekable stream (an HTTP response): zipfile then writes data
descriptors. Every name in the zip is built by `archive.safenames` from the folder's display
name and the UID, never from a message's content.

Layout, format "eml":
    <folder path>/<uid>.eml       one file per message (`<uidvalidity>-<uid>.eml` for messages
                                  kept from before a UIDVALIDITY change)
    manifest.csv                  folder, uidvalidity, uid, flags, internal_date, sha256, path
Layout, format "mbox":
    <folder path>.mbox            one mboxrd file per folder
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO

from django.db.models import QuerySet

from archive.blobstore import BlobBackend, get_store
from archive.folders import folder_path
from archive.models import Folder, Message
from archive.safenames import UniqueNames, safe_component, with_suffix

FORMATS = ("eml", "mbox")
MANIFEST_NAME = "manifest.csv"
MANIFEST_COLUMNS = ["folder", "uidvalidity", "uid", "flags", "internal_date", "sha256", "path"]
COPY_CHUNK = 1 << 20
_MESSAGE_FIELDS = ("folder_id", "uidvalidity", "uid", "blob_id", "flags", "internal_date", "size")


@dataclass
class ExportStats:
    folders: int = 0
    messages: int = 0
    bytes: int = 0


class ExportError(Exception):
    """The export cannot start (unknown folder, unknown format)."""


def account_folders(account, names: Iterable[str] | None = None) -> QuerySet[Folder]:
    """The account's folders, or those whose display or raw name is in `names`."""
    folders = Folder.objects.filter(account=account).order_by("name", "uidvalidity", "pk")
    if names is None:
        return folders
    wanted = list(dict.fromkeys(names))
    chosen = folders.filter(name__in=wanted) | folders.filter(raw_name__in=wanted)
    found = set(chosen.values_list("name", flat=True)) | set(
        chosen.values_list("raw_name", flat=True)
    )
    if missing := [n for n in wanted if n not in found]:
        raise ExportError(f"No folder named {', '.join(map(repr, missing))} in this account.")
    return chosen.order_by("name", "uidvalidity", "pk")


def export_account(
    account,
    out: BinaryIO,
    *,
    folders: Iterable[str] | None = None,
    fmt: str = "eml",
    store: BlobBackend | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ExportStats:
    """Write the account's archive (or some folders of it) as a zip to `out`."""
    chosen = list(account_folders(account, folders))
    messages = Message.objects.filter(folder__in=chosen)
    return export_messages(messages, out, fmt=fmt, store=store, progress=progress)


def export_messages(
    messages: QuerySet[Message],
    out: BinaryIO,
    *,
    fmt: str = "eml",
    store: BlobBackend | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ExportStats:
    """Write any set of messages (a folder, a search result, a selection) as a zip to `out`."""
    if fmt not in FORMATS:
        raise ExportError(f"Unknown export format {fmt!r}: use one of {', '.join(FORMATS)}.")
    store = store or get_store()
    folder_ids = messages.order_by().values_list("folder_id", flat=True).distinct()
    folders = list(Folder.objects.filter(pk__in=folder_ids).order_by("name", "uidvalidity", "pk"))
    writer = _ZipExport(out, store, fmt, total=messages.count(), progress=progress)
    with writer:
        dirs = _folder_dirs(folders, writer.names)
        for folder in folders:
            ordered = messages.filter(folder=folder).order_by("uidvalidity", "uid")
            writer.add_folder(folder, dirs[folder.pk], ordered.only(*_MESSAGE_FIELDS))
    return writer.stats


def _folder_dirs(folders: list[Folder], names: UniqueNames) -> dict[int, str]:
    """A unique, safe zip path per folder row, following the server's hierarchy."""
    dirs: dict[int, str] = {}
    for folder in folders:
        parts = [safe_component(p) for p in folder_path(folder.name, folder.delimiter)]
        parent = "/".join(parts[:-1])
        dirs[folder.pk] = names.claim(parts[-1], parent=parent, keep_suffix=False)
        # The parent components are directories now: no file may later take their names.
        for i in range(1, len(parts)):
            names.reserve("/".join(parts[:i]))
    return dirs


class _ZipExport:
    def __init__(self, out: BinaryIO, store: BlobBackend, fmt: str, total: int, progress):
        self.out = out
        self.store = store
        self.fmt = fmt
        self.total = total
        self.progress = progress
        self.stats = ExportStats()
        self.names = UniqueNames({MANIFEST_NAME})
        self._manifest = tempfile.TemporaryFile("w+", newline="", encoding="utf-8")
        self._rows = csv.writer(self._manifest)
        self._rows.writerow(MANIFEST_COLUMNS)

    def __enter__(self) -> _ZipExport:
        # Mail compresses well; level 6 is zlib's balance between speed and size.
        self.zip = zipfile.ZipFile(
            self.out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6, allowZip64=True
        )
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None and self.fmt == "eml":
                self._manifest.seek(0)
                with self.zip.open(_zipinfo(MANIFEST_NAME, None), "w") as dst:
                    shutil.copyfileobj(_Encoded(self._manifest), dst, COPY_CHUNK)
        finally:
            self._manifest.close()
            self.zip.close()

    def add_folder(self, folder: Folder, folder_dir: str, messages: QuerySet[Message]) -> None:
        self.stats.folders += 1
        if self.fmt == "mbox":
            leaf = with_suffix(folder_dir.rsplit("/", 1)[-1], ".mbox")
            path = self.names.claim(leaf, parent=_parent(folder_dir))
            with self.zip.open(_zipinfo(path, None), "w", force_zip64=True) as dst:
                for msg in messages.iterator(chunk_size=1000):
                    self._copy(msg, dst, mbox=True)
            return
        uidvalidity = folder.uidvalidity or 0
        for msg in messages.iterator(chunk_size=1000):
            leaf = f"{msg.uid}.eml" if msg.uidvalidity == uidvalidity else (
                f"{msg.uidvalidity}-{msg.uid}.eml"
            )  # fmt: skip
            path = f"{folder_dir}/{leaf}"
            if path in self.names:  # only a subfolder can have taken it
                path = self.names.claim(leaf, parent=folder_dir)
            with self.zip.open(_zipinfo(path, msg.internal_date), "w", force_zip64=True) as dst:
                self._copy(msg, dst, mbox=False)
            self._rows.writerow(_manifest_row(folder, msg, path))

    def _copy(self, msg: Message, dst: BinaryIO, mbox: bool) -> None:
        with self.store.open_stream(msg.blob_id) as src:
            chunks = iter(lambda: src.read(COPY_CHUNK), b"")
            if mbox:
                dst.write(mbox_from_line(msg.internal_date))
                chunks = mboxrd_escape(chunks)
            last = b""
            for chunk in chunks:
                dst.write(chunk)
                self.stats.bytes += len(chunk)
                last = chunk[-1:] or last
            if mbox:
                dst.write(b"\n\n" if last != b"\n" else b"\n")
        self.stats.messages += 1
        if self.progress is not None:
            self.progress(self.stats.messages, self.total)


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else ""


def _zipinfo(path: str, when: datetime | None) -> zipfile.ZipInfo:
    stamp = (when or datetime.now(UTC)).astimezone(UTC)
    if stamp.year < 1980:  # the zip format cannot store earlier dates
        stamp = datetime(1980, 1, 1, tzinfo=UTC)
    info = zipfile.ZipInfo(path, date_time=stamp.timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def _manifest_row(folder: Folder, msg: Message, path: str) -> list:
    when = msg.internal_date.astimezone(UTC).isoformat() if msg.internal_date else ""
    flags = " ".join(msg.flags or [])
    return [folder.name, msg.uidvalidity, msg.uid, flags, when, msg.blob_id, path]


class _Encoded(io.RawIOBase):
    """A text file read back as UTF-8 bytes (the spooled manifest)."""

    def __init__(self, text: io.TextIOBase):
        self._text = text

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._text.read(size if size and size > 0 else -1).encode("utf-8")


# -- mboxrd ----------------------------------------------------------------------------------

_FROM_LINE = re.compile(rb"^(>*From )", re.M)
# The start of a line that could still become ">*From " once the next chunk arrives.
_FROM_PREFIX = re.compile(rb">*(?:F(?:r(?:o(?:m)?)?)?)?")
_MAX_PENDING = 1 << 16


def mbox_from_line(when: datetime | None) -> bytes:
    stamp = (when or datetime.now(UTC)).astimezone(UTC)
    return f"From MAILER-DAEMON {stamp.strftime('%a %b %d %H:%M:%S %Y')}\n".encode("ascii")


def mboxrd_escape(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """mboxrd quoting of a message given in chunks: every line matching `>*From ` gets one more
    `>`. Lines may span chunks; nothing but a short line start is ever held back."""
    pending = b""  # a line start that may still turn into ">*From "
    mid_line = False  # the current line began in an earlier chunk and is already decided
    for chunk in chunks:
        data, pending = pending + chunk, b""
        start = 0
        if mid_line:
            nl = data.find(b"\n")
            if nl < 0:
                yield data
                continue
            yield data[: nl + 1]
            start, mid_line = nl + 1, False
        cut = data.rfind(b"\n", start) + 1 or start
        if cut > start:
            yield _FROM_LINE.sub(rb">\1", data[start:cut])
        tail = data[cut:]
        if tail and _FROM_PREFIX.fullmatch(tail) and len(tail) < _MAX_PENDING:
            pending = tail
        elif tail:
            yield _FROM_LINE.sub(rb">\1", tail)
            mid_line = True
    if pending:
        yield pending


def iter_mboxrd(f: BinaryIO) -> Iterator[bytes]:
    """Messages of an mboxrd file, unquoted (the inverse of what this module writes).

    The line break that ends each message before the next `From ` line is the separator, not
    part of the message. Holds one message in memory at a time.
    """
    current: list[bytes] | None = None
    for line in f:
        if line.startswith(b"From "):
            if current is not None:
                yield _finish_mbox_message(current)
            current = []
            continue
        if current is None:
            continue  # junk before the first separator
        if line.startswith(b">") and _FROM_LINE.match(line):
            line = line[1:]
        current.append(line)
    if current is not None:
        yield _finish_mbox_message(current)


def _finish_mbox_message(lines: list[bytes]) -> bytes:
    data = b"".join(lines)
    return data[:-1] if data.endswith(b"\n") else data
