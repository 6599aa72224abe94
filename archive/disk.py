"""The file-system calls behind a blob store's writes: a whole write, and the flushes.

`BlobStore` writes each blob encoded in memory (most messages) with `Disk.write_all` and makes
new files and directory entries durable with `Disk.sync_files` and `Disk.sync_dirs`: the class
default `BlobStore.disk` for every store, or the one given to a store's constructor. That is
the seam where a full or failing disk is put in (tests), and where the flush strategy lives:
one syncfs for a batch of SYNCFS_BATCH files or more is far cheaper than one journal commit per
file (measured, see the git log of archive/blobstore.py).
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterable
from pathlib import Path

SYNCFS_BATCH = 16


class Disk:
    """The real disk: os.write, fsync, and Linux's syncfs where there is one."""

    def write_all(self, fd: int, data: bytes | memoryview) -> int:
        """Write all of `data` at the descriptor's position; returns its length."""
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        return len(data)

    def sync_files(self, paths: list[str], filesystem: Path) -> None:
        """Make the content of `paths` durable (they live on `filesystem`)."""
        if len(paths) >= SYNCFS_BATCH and syncfs(filesystem):
            return
        for p in paths:
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def sync_dirs(self, dirs: Iterable[str], filesystem: Path) -> None:
        """Make the entries of the directories `dirs` durable (they live on `filesystem`)."""
        dirs = list(dirs)
        if len(dirs) >= SYNCFS_BATCH and syncfs(filesystem):
            return
        for d in dirs:
            fsync_dir(d)


def fsync_dir(d: str | Path) -> None:
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _load_syncfs():
    try:
        # The process's own symbols include libc's (find_library would run ldconfig at start-up).
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.syncfs
    except (OSError, AttributeError):
        return None


_SYNCFS = _load_syncfs()


def syncfs(path: Path) -> bool:
    """Flush the whole filesystem holding `path` (Linux); False where that is not available."""
    if _SYNCFS is None:
        return False
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return _SYNCFS(fd) == 0
    finally:
        os.close(fd)
