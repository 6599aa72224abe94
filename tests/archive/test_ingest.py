"""store_messages: blobs first, then rows; the whole corpus round trips byte for byte."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from archive.blobstore import get_store
from archive.ingest import FetchedMessage, park_message, store_messages
from archive.models import Blob, Folder, Message, ParkedMessage
from tests.archive.conftest import make_account, make_folder
from tests.corpus import corpus_messages, pick

WHEN = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def fetched(uid: int, raw: bytes, flags=("\\Seen",)) -> FetchedMessage:
    return FetchedMessage(uid=uid, raw=raw, flags=list(flags), internal_date=WHEN, size=len(raw))


def test_every_corpus_message_comes_back_byte_for_byte(archive_root, folder):
    messages = corpus_messages()
    batch: list[FetchedMessage] = []
    for uid, msg in enumerate(messages, start=1):
        batch.append(fetched(uid, msg.read()))
        if len(batch) == 250:
            store_messages(folder, batch)
            batch = []
    store_messages(folder, batch)

    store = get_store()
    assert Message.objects.filter(folder=folder).count() == len(messages)
    rows = Message.objects.filter(folder=folder).order_by("uid").values_list("uid", "blob_id")
    for (uid, sha), msg in zip(rows, messages, strict=True):
        raw = msg.read()
        assert sha == hashlib.sha256(raw).hexdigest(), msg.path
        assert store.get(sha) == raw, msg.path
    folder.refresh_from_db()
    assert folder.message_count == len(messages)
    assert folder.total_bytes == sum(m.size for m in messages)
