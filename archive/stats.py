"""Figures about the archive for the dashboard and metrics.

One basis for the dashboard's numbers: "archived" is the size of the messages as the servers
sent them, counted once per message in each folder, the same sum as the per-day chart and the
per-account table. What the store keeps after deduplication and compression is the storage
panel's business (`storage`).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db.models import Count, Sum

from archive.models import Blob, Message

# Below this share of the archive's volume free, the dashboard warns.
LOW_SPACE_SHARE = 0.10


def archive_totals() -> tuple[int, int]:
    """(messages archived, their bytes as sent, once per message: the per-day chart's basis)."""
    totals = Message.objects.aggregate(n=Count("pk"), b=Sum("size"))
    return totals["n"] or 0, totals["b"] or 0


@dataclass
class Storage:
    message_bytes: int  # every archived message, as sent
    distinct_bytes: int  # each distinct message once
    stored_bytes: int  # on disk (or in the bucket), after compression and encryption
    free_bytes: int | None  # on the archive's volume; None when it cannot be read
    volume_bytes: int | None

    @property
    def saved_by_dedup(self) -> int:
        return max(self.message_bytes - self.distinct_bytes, 0)

    @property
    def saved_by_compression(self) -> int:
        return max(self.distinct_bytes - self.stored_bytes, 0)

    @property
    def low_space(self) -> bool:
        if self.free_bytes is None or not self.volume_bytes:
            return False
        return self.free_bytes < self.volume_bytes * LOW_SPACE_SHARE


def storage() -> Storage:
    blobs = Blob.objects.aggregate(size=Sum("size"), stored=Sum("stored_size"))
    free, volume = None, None  # a bucket has no volume to fill: nothing to warn about
    if not str(getattr(settings, "ARCHIVE_URL", "")).startswith("s3://"):
        free, volume = volume_space(Path(settings.ARCHIVE_ROOT))
    return Storage(
        message_bytes=archive_totals()[1],
        distinct_bytes=blobs["size"] or 0,
        stored_bytes=blobs["stored"] or 0,
        free_bytes=free,
        volume_bytes=volume,
    )


def volume_space(root: Path) -> tuple[int | None, int | None]:
    """(free, total) bytes of the volume that holds `root` (its nearest existing parent)."""
    path = root
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        usage = shutil.disk_usage(path)
    except OSError:
        return None, None
    return usage.free, usage.total
