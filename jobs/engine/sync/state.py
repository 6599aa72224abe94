"""The database side of a sync: the UID map from the last runs (jobs.models.SyncedMessage).

Rows are written in the same step as the APPENDs they describe (one bulk insert per batch), so
a run killed between two batches resumes after the last recorded one; a message APPENDed but not
yet recorded when the process died is found on the destination by its fingerprint instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction

from jobs.models import SyncedMessage

How = SyncedMessage.How


@dataclass(frozen=True)
class Mapped:
    source_uid: int
    dest_folder: str
    dest_uidvalidity: int | None
    dest_uid: int | None
    fingerprint: str
    flags: tuple[str, ...]
    how: str


@dataclass
class Pair:
    """The two accounts of a sync."""

    source: object
    destination: object

    def rows(self):
        return SyncedMessage.objects.filter(source=self.source, destination=self.destination)


def mapped(pair: Pair, folder: str, uidvalidity: int) -> dict[int, Mapped]:
    rows = pair.rows().filter(source_folder=folder, source_uidvalidity=uidvalidity)
    fields = ("source_uid", "dest_folder", "dest_uidvalidity", "dest_uid", "fingerprint", "flags")
    return {
        r[0]: Mapped(r[0], r[1], r[2], r[3], r[4], tuple(r[5] or ()), r[6])
        for r in rows.values_list(*fields, "how").iterator(chunk_size=5000)
    }


def forget_stale(
    pair: Pair, folder: str, uidvalidity: int, dest_folder: str, dest_uidvalidity: int
) -> int:
    """Rows of this folder that point at an earlier incarnation of the destination folder (or
    of the source folder) say nothing any more: drop them; fingerprints take over."""
    rows = pair.rows().filter(source_folder=folder)
    stale = rows.exclude(source_uidvalidity=uidvalidity) | rows.filter(
        how__in=(How.COPIED, How.MATCHED), dest_folder=dest_folder, dest_uidvalidity__isnull=False
    ).exclude(dest_uidvalidity=dest_uidvalidity)
    count, _ = SyncedMessage.objects.filter(pk__in=stale.values("pk")).delete()
    return count


def claimed_dest_uids(pair: Pair, dest_folder: str, dest_uidvalidity: int) -> set[int]:
    """Destination UIDs already standing for some source message (of any source folder)."""
    rows = pair.rows().filter(
        dest_folder=dest_folder, dest_uidvalidity=dest_uidvalidity, dest_uid__isnull=False
    )
    return set(rows.values_list("dest_uid", flat=True))


def known_gmail(pair: Pair, gm_msgids: Iterable[int]) -> dict[int, str]:
    """X-GM-MSGID -> the destination folder it already went to."""
    ids = list(gm_msgids)
    found: dict[int, str] = {}
    for i in range(0, len(ids), 500):
        rows = pair.rows().filter(gm_msgid__in=ids[i : i + 500]).exclude(how=How.DEDUPED)
        found.update(rows.values_list("gm_msgid", "dest_folder"))
    return found


def record(pair: Pair, folder: str, uidvalidity: int, entries: list[dict]) -> None:
    """Record copied/matched/deduped messages (dicts of SyncedMessage fields)."""
    if not entries:
        return
    objs = [
        SyncedMessage(
            source=pair.source,
            destination=pair.destination,
            source_folder=folder,
            source_uidvalidity=uidvalidity,
            **entry,
        )
        for entry in entries
    ]
    with transaction.atomic():
        SyncedMessage.objects.bulk_create(objs, batch_size=500, ignore_conflicts=True)


def update_flags(pair: Pair, folder: str, uidvalidity: int, flags: dict[int, list[str]]) -> None:
    rows = pair.rows().filter(source_folder=folder, source_uidvalidity=uidvalidity)
    with transaction.atomic():
        for uid, values in flags.items():
            rows.filter(source_uid=uid).update(flags=sorted(values))


def forget(pair: Pair, folder: str, uidvalidity: int, uids: Iterable[int]) -> None:
    uids = list(uids)
    rows = pair.rows().filter(source_folder=folder, source_uidvalidity=uidvalidity)
    for i in range(0, len(uids), 500):
        rows.filter(source_uid__in=uids[i : i + 500]).delete()


def set_fingerprints(pair: Pair, folder: str, uidvalidity: int, fps: dict[int, str]) -> None:
    rows = pair.rows().filter(source_folder=folder, source_uidvalidity=uidvalidity)
    with transaction.atomic():
        for uid, fp in fps.items():
            rows.filter(source_uid=uid).update(fingerprint=fp)
