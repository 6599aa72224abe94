"""Exports of archived messages as a zip: one `.eml` per message (exact bytes) or mboxrd files.

Streamed end to end: `stream_export` hands the zip out in chunks as it is read (a download
iterates it; `export_messages` writes it to a file), the messages read from the blob store in
chunks and compressed by stream-zip as they come, the manifest spooled to a temporary file, so
memory stays flat for an archive of any size. The zip needs no seekable output: every member is
followed by a data descriptor, and is zip64 where its size or offset needs it. Every name in
the zip is built by `archive.safenames` from the folder's display name and the UID, never from
a message's content.

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
import stat
import tempfile
import zlib
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO

from django.db.models import QuerySet
from stream_zip import ZIP_64, ZIP_AUTO, MemberFile, stream_zip

from archive.blobstore import BlobBackend, get_store
from archive.folders import folder_path
from archive.models import Folder, Message
from archive.safenames import UniqueNames, safe_component, with_suffix

FORMATS = ("eml", "mbox")
MANIFEST_NAME = "manifest.csv"
MANIFEST_COLUMNS = ["folder", "uidvalidity", "uid", "flags", "internal_date", "sha256", "path"]
COPY_CHUNK = 1 << 20
ZIP_CHUNK = 1 << 16  # the size of the pieces the zip comes out in
DEFLATE_LEVEL = 6
FILE_MODE = stat.S_IFREG | 0o644
_MESSAGE_FIELDS = (
    "folder_id", "uidvalidity", "uid", "blob_id", "flags", "internal_date", "blob__size",
)  # fmt: skip


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
    export = stream_export(messages, fmt=fmt, store=store, progress=progress)
    for chunk in export:
        out.write(chunk)
    return export.stats


def stream_export(
    messages: QuerySet[Message],
    *,
    fmt: str = "eml",
    store: BlobBackend | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> _ZipExport:
    """The zip of `messages` as an iterable of byte chunks, made while it is read (a download
    streams it); its `stats` are complete once the last chunk was read."""
    if fmt not in FORMATS:
        raise ExportError(f"Unknown export format {fmt!r}: use one of {', '.join(FORMATS)}.")
    return _ZipExport(messages, store or get_store(), fmt, progress)


def _folder_dirs(folders: list[Folder], names: UniqueNames) -> dict[int, str]:
    """A unique, safe zip path per folder row, following the server's hierarchy.

    Paths are handed out parents first, and a child goes under the path its parent got: two
    names that become one when made safe (" name" and "name") get two paths, and each keeps
    its own children."""
    by_levels: dict[tuple[str, ...], str] = {}

    def path_of(levels: tuple[str, ...]) -> str:
        if levels not in by_levels:
            parent = path_of(levels[:-1]) if len(levels) > 1 else ""
            leaf = safe_component(levels[-1])
            by_levels[levels] = names.claim(leaf, parent=parent, keep_suffix=False)
        return by_levels[levels]

    levels = {f.pk: tuple(folder_path(f.name, f.delimiter)) for f in folders}
    dirs: dict[int, str] = {}
    owned: set[str] = set()  # paths a folder row has (not only its children)
    for folder in sorted(folders, key=lambda f: len(levels[f.pk])):  # stable within a depth
        mine = levels[folder.pk]
        if by_levels.get(mine) in owned:
            # Another row of the same name (a folder deleted and re-created): a path of its own.
            parent = path_of(mine[:-1]) if len(mine) > 1 else ""
            dirs[folder.pk] = names.claim(
                safe_component(mine[-1]), parent=parent, keep_suffix=False
            )
        else:
            dirs[folder.pk] = path_of(mine)
        owned.add(dirs[folder.pk])
    return dirs


class _ZipExport:
    """The zip's member files (name, time, mode, method, chunks) made by stream-zip into bytes;
    each member's chunks are read from the blob store only when the zip asks for them."""

    def __init__(self, messages: QuerySet[Message], store: BlobBackend, fmt: str, progress):
        self.messages = messages
        self.store = store
        self.fmt = fmt
        self.progress = progress
        self.total = 0
        self.stats = ExportStats()
        self.names = UniqueNames({MANIFEST_NAME})
        self._chunks: Generator[bytes] | None = None

    def __iter__(self) -> Iterator[bytes]:
        if self._chunks is None:
            members = self._members()
            self._chunks = stream_zip(members, chunk_size=ZIP_CHUNK, get_compressobj=_deflate)
        return self._chunks

    def close(self) -> None:
        """Stop early (Django calls it when a download ends, also one the client dropped): the
        blob being read and the spooled manifest are closed, nothing more is read."""
        if self._chunks is not None:
            self._chunks.close()

    def _members(self) -> Iterator[MemberFile]:
        folder_ids = self.messages.order_by().values_list("folder_id", flat=True).distinct()
        folders = Folder.objects.filter(pk__in=folder_ids).order_by("name", "uidvalidity", "pk")
        folders = list(folders)
        self.total = self.messages.count()
        dirs = _folder_dirs(folders, self.names)
        with tempfile.TemporaryFile("w+", newline="", encoding="utf-8") as manifest:
            rows = csv.writer(manifest)
            rows.writerow(MANIFEST_COLUMNS)
            for folder in folders:
                self.stats.folders += 1
                ordered = self.messages.filter(folder=folder).order_by("uidvalidity", "uid")
                ordered = ordered.select_related("blob").only(*_MESSAGE_FIELDS)
                if self.fmt == "mbox":
                    yield self._mbox_member(dirs[folder.pk], ordered)
                else:
                    yield from self._eml_members(folder, dirs[folder.pk], ordered, rows)
            if self.fmt == "eml":
                manifest.seek(0)
                yield MANIFEST_NAME, _zip_time(None), FILE_MODE, ZIP_64, _encoded(manifest)

    def _mbox_member(self, folder_dir: str, messages: QuerySet[Message]) -> MemberFile:
        leaf = with_suffix(folder_dir.rsplit("/", 1)[-1], ".mbox")
        path = self.names.claim(leaf, parent=_parent(folder_dir))
        chunks = (c for msg in messages.iterator(chunk_size=1000) for c in self._copy(msg, True))
        return path, _zip_time(None), FILE_MODE, ZIP_64, chunks  # size unknown: zip64

    def _eml_members(self, folder: Folder, folder_dir: str, messages, rows) -> Iterator:
        uidvalidity = folder.uidvalidity or 0
        for msg in messages.iterator(chunk_size=1000):
            leaf = f"{msg.uid}.eml" if msg.uidvalidity == uidvalidity else (
                f"{msg.uidvalidity}-{msg.uid}.eml"
            )  # fmt: skip
            path = f"{folder_dir}/{leaf}"
            if path in self.names:  # only a subfolder can have taken it
                path = self.names.claim(leaf, parent=folder_dir)
            rows.writerow(_manifest_row(folder, msg, path))
            # The exact size is the blob's: zip64 only for a member that needs it.
            method = ZIP_AUTO(msg.blob.size, level=DEFLATE_LEVEL)
            yield path, _zip_time(msg.internal_date), FILE_MODE, method, self._copy(msg, False)

    def _copy(self, msg: Message, mbox: bool) -> Iterator[bytes]:
        """One message's bytes as stored (mbox: with its From line, quoted), then progress."""
        with self.store.open_stream(msg.blob_id) as src:
            chunks = iter(lambda: src.read(COPY_CHUNK), b"")
            if mbox:
                yield mbox_from_line(msg.internal_date)
                chunks = mboxrd_escape(chunks)
            last = b""
            for chunk in chunks:
                yield chunk
                self.stats.bytes += len(chunk)
                last = chunk[-1:] or last
            if mbox:
                yield b"\n\n" if last != b"\n" else b"\n"
        self.stats.messages += 1
        if self.progress is not None:
            self.progress(self.stats.messages, self.total)


def _deflate():
    # Mail compresses well; level 6 is zlib's balance between speed and size.
    return zlib.compressobj(level=DEFLATE_LEVEL, wbits=-zlib.MAX_WBITS)


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else ""


def _zip_time(when: datetime | None) -> datetime:
    stamp = (when or datetime.now(UTC)).astimezone(UTC)
    if stamp.year < 1980:  # the zip format cannot store earlier dates
        stamp = datetime(1980, 1, 1, tzinfo=UTC)
    return stamp


def _manifest_row(folder: Folder, msg: Message, path: str) -> list:
    when = msg.internal_date.astimezone(UTC).isoformat() if msg.internal_date else ""
    flags = " ".join(msg.flags or [])
    return [folder.name, msg.uidvalidity, msg.uid, flags, when, msg.blob_id, path]


def _encoded(text: io.TextIOBase) -> Iterator[bytes]:
    """A text file read back as UTF-8 bytes (the spooled manifest)."""
    while chunk := text.read(COPY_CHUNK):
        yield chunk.encode("utf-8")


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
