"""Putting fetched messages into the archive: blobs first, then rows, in one transaction.

Order matters (SECURITY.md "Storage"): every blob of the batch is durable and re-verified in the
blob store before the transaction that creates the rows starts, so a crash at any moment leaves
at worst orphan blobs (harmless: the next run finds the bytes already stored), never a row that
points at a missing or partial blob.

Transactions: `store_messages` runs its own `transaction.atomic()`; when the caller wraps the call
in its own `transaction.atomic()` (the engine does, to advance `Folder.highest_uid` with the batch),
that becomes a savepoint and everything commits together with the caller's block. Alternatively,
pass `in_transaction=callable`: it is called inside the same transaction, after the rows exist.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from archive import search, threads
from archive.blobstore import BlobBackend, BlobMissing, get_store
from archive.indexing import Document, document_for
from archive.models import Blob, Folder, Message, ParkedMessage
from archive.parsing import ParsedHeaders, parse_message
from archive.rows import build as build_row
from archive.rows import insert as insert_rows


@dataclass
class FetchedMessage:
    uid: int
    raw: bytes
    flags: list[str]
    internal_date: datetime | None
    size: int
    gm_msgid: int | None = None
    gm_labels: list[str] = field(default_factory=list)
    pop3_uidl: str = ""


def folder_uidvalidity(folder: Folder) -> int:
    """The UIDVALIDITY stored on a folder's messages (0 where there is none: POP3)."""
    return folder.uidvalidity or 0


def store_messages(
    folder: Folder,
    fetched: Sequence[FetchedMessage],
    *,
    store: BlobBackend | None = None,
    in_transaction: Callable[[list[Message]], None] | None = None,
) -> list[Message]:
    """Archive a batch of messages of one folder; returns the Message rows created now.

    Messages whose (folder, uidvalidity, uid) is already archived are skipped (and not
    returned), so replaying a batch after a crash duplicates nothing. Blob rows are shared:
    the same bytes in another folder or account point at the same Blob. Header parsing never
    raises: a message it cannot read is stored with what could be parsed and `parse_error` set.
    Matching ParkedMessage rows are removed: those UIDs are now archived.
    """
    if not fetched:
        return []
    store = store or get_store()
    uidvalidity = folder_uidvalidity(folder)
    read = _Reading(fetched)
    # Durable blobs first, outside the transaction (fsyncs must not hold database locks); the
    # messages are parsed while the disk flushes them.
    written: set[str] = set()
    stored = store.put_many([m.raw for m in fetched], meanwhile=read, written=written)
    parsed, documents = read()
    now = timezone.now()
    # The rows are built before the transaction too: with SQLite every worker process waits
    # for the one write lock, so work done while holding it keeps the others waiting.
    rows = _new_rows(folder, uidvalidity, fetched, stored, parsed, set(), now)
    with transaction.atomic():
        _create_blobs(fetched, stored, now)
        _check_still_stored(store, {sha for sha, _ in stored} - written)
        existing = set(
            Message.objects.filter(
                folder=folder, uidvalidity=uidvalidity, uid__in=[m.uid for m in fetched]
            ).values_list("uid", flat=True)
        )
        created = _insert_messages(folder, uidvalidity, [r for r in rows if r.uid not in existing])
        _record_documents(created, documents)  # searchable with the same commit
        ParkedMessage.objects.filter(
            folder=folder, uidvalidity=uidvalidity, uid__in=[m.uid for m in fetched]
        ).delete()
        if created:
            Folder.objects.filter(pk=folder.pk).update(
                message_count=F("message_count") + len(created),
                total_bytes=F("total_bytes") + sum(len(m.raw) for m in fetched_for(created)),
            )
        if in_transaction is not None:
            in_transaction(created)
    return created


class _Reading:
    """Parsing a batch, and reading its search text and references (issue 6) before any
    database lock is taken; done once, whenever first called. The documents are keyed by the
    FetchedMessage object, which each new row carries."""

    def __init__(self, fetched: Sequence[FetchedMessage]):
        self.fetched = fetched
        self.done: tuple[list[ParsedHeaders], dict[int, Document]] | None = None

    def __call__(self) -> tuple[list[ParsedHeaders], dict[int, Document]]:
        if self.done is None:
            parsed = [parse_message(m.raw) for m in self.fetched]
            pairs = zip(self.fetched, parsed, strict=True)
            self.done = parsed, {id(m): document_for(m.raw, h) for m, h in pairs}
        return self.done


def _record_documents(created: list[Message], documents: dict[int, Document]) -> None:
    """Index the new Message rows and record their references (inside the transaction)."""
    pairs = [(m, documents[id(f)]) for m, f in zip(created, fetched_for(created), strict=True)]
    if pairs:
        search.index_documents(pairs)
        threads.record_references(pairs)


def fetched_for(created: list[Message]) -> list[FetchedMessage]:
    return [m._fetched for m in created]  # type: ignore[attr-defined]


def _insert_messages(folder: Folder, uidvalidity: int, new: list[Message]) -> list[Message]:
    """Insert the new rows and give them their primary keys (indexing needs them)."""
    insert_rows(Message, new)
    ids = dict(
        Message.objects.filter(
            folder=folder, uidvalidity=uidvalidity, uid__in=[m.uid for m in new]
        ).values_list("uid", "pk")
    )
    for message in new:
        message.pk = ids[message.uid]
        message._state.adding = False
    return new


def _check_still_stored(store: BlobBackend, hashes: set[str]) -> None:
    """Fail the batch if the garbage collector (`archive/gc.py`) took a blob away between
    `put_many` (which found it stored and did not write it) and this transaction: its retry then
    writes the bytes again. The collector moves a file before it commits the removal of its row,
    and cannot remove a row this transaction holds (SQLite's write lock; the rows locked on
    PostgreSQL), so a blob seen here stays until the messages pointing at it are committed.
    Only blobs put_many found stored are asked about: one it wrote now is younger than the
    collector's grace period (BLOB_GC_GRACE_HOURS), which is what protects it, and in object
    storage each question is a request."""
    if connection.features.has_select_for_update:
        list(Blob.objects.select_for_update().filter(sha256__in=hashes).values_list("pk"))
    missing = sorted(sha for sha in hashes if not store.exists(sha))
    if missing:
        raise BlobMissing(
            f"{len(missing)} blob(s) of this batch were removed by the cleanup while it was "
            "being stored; the batch is stored again."
        )


def _create_blobs(
    fetched: Sequence[FetchedMessage], stored: list[tuple[str, int]], now: datetime
) -> None:
    new = {}
    for msg, (sha, stored_size) in zip(fetched, stored, strict=True):
        new.setdefault(sha, Blob(sha256=sha, size=len(msg.raw), stored_size=stored_size))
        new[sha].created_at = now
    # Rows already there (the same bytes in another folder, or another worker inserting the same
    # blob at this moment) are left as they are.
    insert_rows(Blob, list(new.values()), ignore_conflicts=True)


def _new_rows(
    folder: Folder,
    uidvalidity: int,
    fetched: Sequence[FetchedMessage],
    stored: list[tuple[str, int]],
    parsed: list[ParsedHeaders],
    existing: set[int],
    now: datetime,
) -> list[Message]:
    rows: list[Message] = []
    seen = set(existing)
    for msg, (sha, _), headers in zip(fetched, stored, parsed, strict=True):
        if msg.uid in seen:
            continue
        seen.add(msg.uid)
        row = build_row(
            Message,
            folder_id=folder.pk,
            uidvalidity=uidvalidity,
            uid=msg.uid,
            pop3_uidl=msg.pop3_uidl,
            blob_id=sha,
            flags=[str(f) for f in msg.flags],
            internal_date=msg.internal_date,
            size=msg.size if msg.size else len(msg.raw),
            message_id=headers.message_id,
            subject=headers.subject,
            from_addr=headers.from_addr,
            to_addrs=headers.to_addrs,
            cc_addrs=headers.cc_addrs,
            date=headers.date,
            has_attachments=headers.has_attachments,
            first_seen_at=now,
            gm_msgid=msg.gm_msgid,
            gm_labels=[str(label) for label in msg.gm_labels],
            parse_error=headers.error,
        )
        row.folder = folder  # the relation cached, as Message(folder=...) would
        row._fetched = msg  # type: ignore[attr-defined]
        rows.append(row)
    return rows


def park_message(folder: Folder, uid: int, error: str) -> ParkedMessage:
    """Record that `uid` failed to fetch or store; the next run retries it. Safe to repeat."""
    uidvalidity = folder_uidvalidity(folder)
    now = timezone.now()
    with transaction.atomic():
        parked, created = ParkedMessage.objects.select_for_update().get_or_create(
            folder=folder,
            uidvalidity=uidvalidity,
            uid=uid,
            defaults={"error": error[:2000], "first_failed_at": now, "last_failed_at": now},
        )
        if not created:
            parked.error = error[:2000]
            parked.attempts = F("attempts") + 1
            parked.last_failed_at = now
            parked.save(update_fields=["error", "attempts", "last_failed_at"])
            parked.refresh_from_db()
    return parked
