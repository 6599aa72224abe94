"""Content-addressed blob store: raw message bytes by sha256, compressed, optionally encrypted.

A blob's path comes from its hash only (`<root>/blobs/ab/<sha256>`), never from anything a
message or a server chose, so no input can steer a write outside the root. One level of 256
directories, not two (65,536): creating a directory costs as much as creating the blob itself
(measured: 0.19 ms per mkdir on ext4 here), so two levels doubled the cost of a first backup of
any mailbox under about 100,000 messages and left up to 256 MB of nearly empty directory blocks;
256 directories hold ten million blobs at about 40,000 entries each, well within ext4's hashed
directories. The file format is in
`archive/blobformat.py`.

Write order (SECURITY.md "Storage"): temp file in the final directory, fsync, rename, fsync the
directory, re-read and re-hash the renamed file; only then may the caller commit a row pointing
at it. A crash at any step leaves either nothing under the final name or a complete blob (an
orphan until the row is committed); temp files left by a crash are named `.tmp-*` and are
cleaned by `archive.verify.remove_stale_temp_files`.

`BlobBackend` is the whole interface the rest of the app uses; `archive/s3store.py` implements
it for S3-compatible object storage; `get_store()` picks the one ARCHIVE_URL names. The
file-system calls of a write go through a `Disk` (`archive/disk.py`): the store's seam for a
full or failing disk. The collector's side (held folder, temp files) is `archive/localheld.py`.

Why by hand (os-level calls, string paths, one write per small blob, temp names from a counter)
rather than tempfile, pathlib and buffered files: a backup stores every message through here,
and each of those conveniences showed in profiles of the write path (the measurements are in
the git log of this file, e.g. a store-only backup of 10,000 messages 12.0 s -> 7.7 s together
with archive/rows.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import mmap
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO, Protocol

from archive.blobformat import (
    CHUNK,
    ONE_SHOT_LIMIT,
    BlobCorrupt,
    BlobError,
    BlobKeyError,
    BlobMissing,
    BlobReader,
    check_hash,
    decode_bytes,
    encode_bytes,
    encode_to,
    key_id,
    parse_key,
    read_all,
)
from archive.disk import Disk, fsync_dir
from archive.localheld import HASH_RE, HELD_DIR, TEMP_PREFIX, LocalHeldArea

__all__ = [
    "BlobBackend",
    "BlobCorrupt",
    "BlobError",
    "BlobKeyError",
    "BlobMissing",
    "BlobStore",
    "HASH_RE",
    "HELD_DIR",
    "TEMP_PREFIX",
    "get_store",
    "sha256_of",
]


def sha256_of(raw: bytes | memoryview) -> str:
    return hashlib.sha256(raw).hexdigest()


class BlobBackend(Protocol):
    """What any blob store offers. Every read verifies the hash."""

    def put(self, raw: bytes) -> tuple[str, int]: ...
    def put_many(
        self,
        raws: list[bytes],
        meanwhile: Callable[[], object] | None = None,
        written: set[str] | None = None,
    ) -> list[tuple[str, int]]: ...
    def get(self, sha256: str) -> bytes: ...
    def open_stream(self, sha256: str) -> BinaryIO: ...
    def exists(self, sha256: str) -> bool: ...
    def verify(self, sha256: str) -> None: ...
    def stored_size(self, sha256: str) -> int: ...
    def iter_hashes(self) -> Iterable[str]: ...
    def put_file(self, f: BinaryIO) -> tuple[str, int]: ...
    def quarantine(self, sha256: str) -> object: ...
    # The collector's (archive/gc.py): age, a held area, its schedule, interrupted writes.
    def present(self) -> bool: ...
    def modified_at(self, sha256: str) -> float: ...
    def hold(self, sha256: str, now: float) -> int | None: ...
    def unhold(self, sha256: str) -> None: ...
    def drop_held(self, sha256: str) -> None: ...
    def held(self) -> Iterable[tuple[str, float, int]]: ...
    def claim_gc_run(self, now: float, interval: float) -> bool: ...
    def stale_temp_files(self, older_than: float, remove: bool) -> int: ...


class BlobStore(LocalHeldArea):
    """Blobs as files under `root` (a local disk or a mounted volume).

    `disk`: the file-system calls of the writes (`archive.disk.Disk`); the class attribute is
    every store's default, a constructor argument replaces it for one store."""

    disk: Disk = Disk()

    def __init__(
        self,
        root: str | os.PathLike,
        encryption_key: str | bytes | None = None,
        old_keys: Iterable[str | bytes] = (),
        *,
        disk: Disk | None = None,
    ):
        if disk is not None:
            self.disk = disk
        self.root = Path(root)
        self.blob_dir = self.root / "blobs"
        self.quarantine_dir = self.root / "quarantine"
        self.key = parse_key(encryption_key)
        # Every key that may decrypt, by id: the current one and any retired ones.
        self._keys = {key_id(k): k for k in [self.key, *map(parse_key, old_keys)] if k}
        self._known_dirs: set[str] = set()
        self._blob_root = str(self.blob_dir)
        self._dir_lock = threading.Lock()

    # -- paths ---------------------------------------------------------------------------------

    def path_for(self, sha256: str) -> Path:
        check_hash(sha256)
        return self.blob_dir / sha256[:2] / sha256

    def exists(self, sha256: str) -> bool:
        return os.path.isfile(self._path(check_hash(sha256)))

    def stored_size(self, sha256: str) -> int:
        try:
            return self.path_for(sha256).stat().st_size
        except FileNotFoundError:
            raise BlobMissing(f"Blob {sha256} is missing from the store.") from None

    def iter_hashes(self) -> Iterable[str]:
        """Every complete blob in the store (temp files excluded)."""
        if not self.blob_dir.is_dir():
            return
        for prefix in sorted(self.blob_dir.iterdir()):
            for entry in sorted(prefix.iterdir()) if prefix.is_dir() else ():
                if not entry.name.startswith(TEMP_PREFIX):
                    yield entry.name

    # -- reading -------------------------------------------------------------------------------

    def _open(self, sha256: str) -> BinaryIO:
        try:
            return open(self.path_for(sha256), "rb")
        except FileNotFoundError:
            raise BlobMissing(f"Blob {sha256} is missing from the store.") from None

    def get(self, sha256: str) -> bytes:
        """The raw bytes, verified against the hash (raises BlobCorrupt / BlobMissing)."""
        f = self._open(sha256)
        with f:
            if os.fstat(f.fileno()).st_size <= ONE_SHOT_LIMIT:
                return decode_bytes(f.read(), sha256, self._keys)
            return read_all(BlobReader(f, sha256, self._keys), sha256)

    def open_stream(self, sha256: str) -> BinaryIO:
        """A buffered reader of the raw bytes; the hash is checked when the end is read."""
        f = self._open(sha256)
        try:
            return io.BufferedReader(BlobReader(f, sha256, self._keys), buffer_size=CHUNK)
        except BaseException:
            f.close()
            raise

    def verify(self, sha256: str) -> None:
        """Read the whole blob and check it; raises BlobError subclasses, returns None if good."""
        self._verify_file(self._open(sha256), sha256)

    def _verify_file(self, f: BinaryIO, sha256: str) -> None:
        with f:
            if os.fstat(f.fileno()).st_size <= ONE_SHOT_LIMIT:
                # Most messages: one read and one decompression, no stream buffers to allocate.
                decode_bytes(f.read(), sha256, self._keys)
                return
            with io.BufferedReader(BlobReader(f, sha256, self._keys), buffer_size=CHUNK) as r:
                while r.read(CHUNK):
                    pass

    # -- writing -------------------------------------------------------------------------------

    def put(self, raw: bytes) -> tuple[str, int]:
        """Store `raw` durably; returns (sha256, stored size). Same bytes are stored once: an
        existing blob is verified and kept, or quarantined and rewritten if it is damaged."""
        return self.put_many([raw])[0]

    def put_many(
        self,
        raws: list[bytes],
        meanwhile: Callable[[], object] | None = None,
        written: set[str] | None = None,
    ) -> list[tuple[str, int]]:
        """Store several blobs durably, batching the fsyncs; results in the order given.

        `meanwhile`, if given, is called once while the disk flushes the new files: the caller's
        work that does not need the blobs stored (ingest parses the messages there). `written`,
        if given, receives the hashes this call wrote (the others were found stored)."""
        hashes = [sha256_of(raw) for raw in raws]
        pending: dict[str, bytes] = {}
        for sha, raw in zip(hashes, raws, strict=True):
            if sha not in pending and not self._holds_good_copy(sha):
                pending[sha] = raw
        new_dirs: set[str] = set()
        temps = self._write_temps(pending, new_dirs)  # each written, then read back and checked
        try:
            # The flush waits on the disk, not the CPU: the caller's work is done meanwhile.
            flushing = [tmp for tmp, _ in temps.values()]
            with _in_background(self.disk.sync_files, flushing, self.blob_dir):
                if meanwhile is not None:
                    meanwhile()
            for sha, (tmp, _) in temps.items():
                os.replace(tmp, self._path(sha))
        except BaseException:
            for tmp, _ in temps.values():
                _unlink_quietly(tmp)
            raise
        # The renamed entries, and the entries of directories created for them, made durable.
        renamed = {os.path.dirname(self._path(sha)) for sha in pending}
        self.disk.sync_dirs(renamed | new_dirs, self.blob_dir)
        sizes = {sha: size for sha, (_, size) in temps.items()}
        if written is not None:
            written.update(sizes)
        return [(sha, sizes.get(sha) or self.stored_size(sha)) for sha in hashes]

    def _path(self, sha256: str) -> str:
        # A string, not a Path: the write path runs this a few times per message, and building
        # Path objects cost more than the hashing.
        return f"{self._blob_root}/{sha256[:2]}/{sha256}"

    def _holds_good_copy(self, sha256: str) -> bool:
        """Whether a verified blob already exists. A damaged one is quarantined (never deleted),
        so storing the same bytes again repairs the archive."""
        if not os.path.isfile(self._path(sha256)):
            return False
        try:
            self.verify(sha256)
        except BlobKeyError:
            return True  # sealed with a key this process lacks: not ours to judge
        except BlobCorrupt:
            self.quarantine(sha256)
            return False
        return True

    def put_file(self, f: BinaryIO) -> tuple[str, int]:
        """Store the content of a regular file (an import) without reading it into memory: the
        file is mapped, so its pages come from the page cache and never count as copies."""
        if os.fstat(f.fileno()).st_size == 0:
            return self.put(b"")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            return self.put_many([mm])[0]  # type: ignore[list-item]

    def _write_temps(
        self, pending: dict[str, bytes], new_dirs: set[str]
    ) -> dict[str, tuple[str, int]]:
        """Each blob into a temp file beside its final name; sha -> (temp path, bytes written)."""
        temps: dict[str, tuple[str, int]] = {}
        try:
            for sha, raw in pending.items():
                directory = os.path.dirname(self._path(sha))
                new_dirs |= self._ensure_dir(directory)
                fd, tmp = _create_temp(directory, sha)
                temps[sha] = (tmp, 0)
                temps[sha] = (tmp, self._write_blob(fd, tmp, raw, sha))
        except BaseException:
            for tmp, _ in temps.values():
                _unlink_quietly(tmp)
            raise
        return temps

    def _write_blob(self, fd: int, tmp: str, raw: bytes, sha256: str) -> int:
        """Write the blob into its new temp file, then read it back and check that it decodes
        to its hash (SECURITY.md). A temp file holds the bytes it will hold under its name, so
        this checks the blob; a file that fails is quarantined, never deleted."""
        if len(raw) > ONE_SHOT_LIMIT:  # streamed in chunks, then read back the same way
            with os.fdopen(fd, "wb", buffering=CHUNK) as out:
                size = encode_to(raw, sha256, self.key, out)
            self._reverify(tmp, sha256, lambda: self._verify_file(open(tmp, "rb"), sha256))
            return size
        try:  # most messages: encoded in memory, one write, read back from the same descriptor
            size = self.disk.write_all(fd, encode_bytes(raw, sha256, self.key))
            read_back = os.pread(fd, size + 1, 0)
            self._reverify(tmp, sha256, lambda: decode_bytes(read_back, sha256, self._keys))
            return size
        finally:
            os.close(fd)

    def _ensure_dir(self, d: str) -> set[str]:
        """Create a blob directory; returns the parents whose new entries need an fsync."""
        if d in self._known_dirs:
            return set()
        created: set[str] = set()
        with self._dir_lock:
            for p in (os.path.dirname(d), d):
                if not os.path.isdir(p):
                    os.makedirs(p, exist_ok=True)
                    created.add(os.path.dirname(p))
            self._known_dirs.add(d)
        return created

    def _reverify(self, tmp: str, sha256: str, check: Callable[[], object]) -> None:
        """`check()` decodes what was just written, read back; a file that does not decode to
        its hash is moved to the quarantine, never deleted (SECURITY.md)."""
        try:
            check()
        except BlobCorrupt:
            self._quarantine_path(tmp, sha256)
            raise

    def quarantine(self, sha256: str) -> Path | None:
        """Move a bad blob aside (never delete it): it no longer counts as stored.

        Returns where it went, or None if another process moved it first."""
        return self._quarantine_path(self.path_for(sha256), sha256)

    def _quarantine_path(self, src: str | Path, sha256: str) -> Path | None:
        self.quarantine_dir.mkdir(parents=True, exist_ok=True)
        dest = self.quarantine_dir / f"{sha256}.{os.urandom(4).hex()}"
        try:
            os.replace(src, dest)
        except FileNotFoundError:
            return None
        fsync_dir(os.path.dirname(src))
        return dest

    def move_out(self, sha256: str, dest: Path) -> int | None:
        """Move a blob's file to `dest` (outside the blob folder: it no longer counts as
        stored); its size on disk, or None if it was not there. The collector's set-aside."""
        src = self.path_for(sha256)
        try:
            size = src.stat().st_size
            os.replace(src, dest)
        except FileNotFoundError:
            return None
        return size

    def move_in(self, sha256: str, src: Path) -> None:
        """Put a file moved out with `move_out` back under its name (nothing if it is gone)."""
        dest = self.path_for(sha256)
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(src, dest)
        except FileNotFoundError:
            pass


_TEMP_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
_temp_numbers = itertools.count()


def _create_temp(directory: str, sha256: str) -> tuple[int, str]:
    """A new temp file beside the blob's final name: (fd, path). Named by process and a counter
    (what tempfile.mkstemp's random names cost showed in profiles); O_EXCL refuses a leftover
    of an earlier process with the same pid, and the next number is tried."""
    while True:
        tmp = f"{directory}/{TEMP_PREFIX}{sha256[:16]}-{os.getpid()}-{next(_temp_numbers)}"
        try:
            return os.open(tmp, _TEMP_FLAGS, 0o600), tmp
        except FileExistsError:
            continue


@contextlib.contextmanager
def _in_background(work: Callable[..., object], *args):
    """Run `work(*args)` in a thread while the block runs; its error is raised after the block
    (the block's own error wins)."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            errors.append(exc)

    thread = threading.Thread(target=run, name="blob-flush", daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join()
    if errors:
        raise errors[0]


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


_stores: dict[tuple, BlobBackend] = {}
_stores_lock = threading.Lock()


def get_store() -> BlobBackend:
    """The store configured by settings.ARCHIVE_URL (a local folder at ARCHIVE_ROOT by
    default, or s3://BUCKET/PREFIX) and settings.ARCHIVE_ENCRYPTION_KEY."""
    from django.conf import settings

    old = tuple(getattr(settings, "ARCHIVE_OLD_ENCRYPTION_KEYS", ()) or ())
    url = getattr(settings, "ARCHIVE_URL", "") or ""
    where = url if url.startswith("s3://") else str(settings.ARCHIVE_ROOT)
    s3 = tuple(sorted(getattr(settings, "ARCHIVE_S3", {}).items())) if url else ()
    # By process too: a forked backup worker must not share the parent's pooled S3 connections.
    config = (where, settings.ARCHIVE_ENCRYPTION_KEY or None, old, s3, os.getpid())
    with _stores_lock:
        store = _stores.get(config)
        if store is None:
            store = _stores[config] = _open_store(where, config[1], old, dict(s3))
        return store


def _open_store(where: str, key: str | None, old: tuple, s3: dict) -> BlobBackend:
    if not where.startswith("s3://"):
        return BlobStore(where, key, old)
    from archive.s3fast import fast_putter
    from archive.s3store import S3Store, make_client, parse_s3_url

    bucket, prefix = parse_s3_url(where)
    client, putter = make_client(**s3), fast_putter(bucket, s3)
    return S3Store(bucket, prefix, key, old, client=client, putter=putter)
