"""The local blob store's side of garbage collection: the age of a blob file, the held folder
where the collector sets files aside (`<root>/gc-held/`) and temp files of interrupted writes.

A mixin of `archive.blobstore.BlobStore` (it uses the store's root, paths and moves); the
object-storage backend has the same methods (`archive.s3store.S3HeldArea`), so `archive/gc.py`
works on either.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator

from archive.blobformat import BlobMissing

TEMP_PREFIX = ".tmp-"
HELD_DIR = "gc-held"
HASH_RE = re.compile(r"[0-9a-f]{64}")


class LocalHeldArea:
    def present(self) -> bool:
        """Whether the store exists here (its volume may not be mounted)."""
        return self.blob_dir.is_dir()

    def modified_at(self, sha256: str) -> float:
        try:
            return self.path_for(sha256).stat().st_mtime
        except FileNotFoundError:
            raise BlobMissing(f"Blob {sha256} is missing from the store.") from None

    def hold(self, sha256: str, now: float) -> int | None:
        """Set a blob aside in `<root>/gc-held/`, stamped `now`; its size, or None if gone."""
        dest = self.root / HELD_DIR / sha256
        dest.parent.mkdir(exist_ok=True)
        size = self.move_out(sha256, dest)
        if size is not None:
            os.utime(dest, (now, now))
        return size

    def unhold(self, sha256: str) -> None:
        self.move_in(sha256, self.root / HELD_DIR / sha256)

    def drop_held(self, sha256: str) -> None:
        (self.root / HELD_DIR / sha256).unlink(missing_ok=True)

    def held(self) -> Iterator[tuple[str, float, int]]:
        """(sha256, when it was set aside, size) of every held blob, in hash order."""
        folder = self.root / HELD_DIR
        names = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        for name in names:
            try:
                stat = (folder / name).stat()
            except FileNotFoundError:
                continue  # another run handled it
            if HASH_RE.fullmatch(name):
                yield name, stat.st_mtime, stat.st_size

    def claim_gc_run(self, now: float, interval: float) -> bool:
        """Whether a collection is due (none in the last `interval` s); if so, it is claimed."""
        stamp = self.root / HELD_DIR / ".last-run"
        try:
            if stamp.stat().st_mtime > now - interval:
                return False
        except FileNotFoundError:
            stamp.parent.mkdir(exist_ok=True)
        stamp.touch()  # before the run: a housekeeping a minute later must not start another
        os.utime(stamp, (now, now))
        return True

    def stale_temp_files(self, older_than: float, remove: bool) -> int:
        """Temp files of writes interrupted more than `older_than` s ago: counted, or removed."""
        cutoff = time.time() - older_than
        found = 0
        temps = (
            os.path.join(d, name)
            for d, _dirs, files in os.walk(self.blob_dir)
            for name in files
            if name.startswith(TEMP_PREFIX)
        )
        for path in temps:
            try:
                if os.stat(path).st_mtime < cutoff:
                    if remove:
                        os.unlink(path)
                    found += 1
            except FileNotFoundError:  # a running write renamed it while we listed: not stale
                continue
        return found
