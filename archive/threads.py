"""Conversations: messages linked by Message-ID, In-Reply-To and References, across folders.

References are recorded at ingest (`archive.ingest`), one `MessageRef` row per Message-ID a
message points at. A conversation is the connected set reached from one message by following
its references and the messages that reference it, within its account; the walk is bounded so
a mailing list's thousand-message thread cannot make a page slow.
"""

from __future__ import annotations

from collections.abc import Iterable

from archive.models import Message, MessageRef
from archive.rows import insert as insert_rows

MAX_CONVERSATION = 500
MAX_ROUNDS = 20


def record_references(pairs: Iterable) -> None:
    """MessageRef rows for (Message, Document) pairs whose Message rows were just created."""
    rows = [
        MessageRef(message_id=message.pk, ref=ref)
        for message, doc in pairs
        for ref in doc.refs
        if ref != message.message_id
    ]
    insert_rows(MessageRef, rows, ignore_conflicts=True)


def conversation(message: Message) -> list[Message]:
    """Every message of the conversation `message` belongs to, oldest first (bounded)."""
    account_id = message.folder.account_id
    in_account = Message.objects.filter(folder__account_id=account_id)
    ids = {message.message_id} if message.message_id else set()
    ids |= set(MessageRef.objects.filter(message=message).values_list("ref", flat=True))
    found: set[int] = {message.pk}
    seen_ids = set(ids)
    for _ in range(MAX_ROUNDS):
        if not ids:
            break
        by_id = in_account.filter(message_id__in=ids).values_list("pk", flat=True)
        by_ref = MessageRef.objects.filter(
            ref__in=ids, message__folder__account_id=account_id
        ).values_list("message_id", flat=True)
        new = (set(by_id[:MAX_CONVERSATION]) | set(by_ref[:MAX_CONVERSATION])) - found
        if not new:
            break
        found |= new
        if len(found) >= MAX_CONVERSATION:
            break
        ids = _ids_of(new) - seen_ids
        seen_ids |= ids
    return list(
        Message.objects.filter(pk__in=list(found)[:MAX_CONVERSATION])
        .select_related("folder")
        .order_by("date", "internal_date", "pk")
    )


def _ids_of(message_pks: set[int]) -> set[str]:
    own = Message.objects.filter(pk__in=message_pks).exclude(message_id="")
    refs = MessageRef.objects.filter(message_id__in=message_pks)
    return set(own.values_list("message_id", flat=True)) | set(refs.values_list("ref", flat=True))
