"""store_messages: blobs first, then rows; the whole corpus round trips byte for byte."""

from __future__ import annotations

import codecs
import hashlib
from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, transaction

from archive.blobstore import get_store
from archive.ingest import FetchedMessage, park_message, store_messages
from archive.models import Blob, Folder, Message, ParkedMessage
from tests.corpus import corpus_messages, pick
from tests.helpers.archive import make_account, make_folder

# Also run against a real PostgreSQL by `make test` (pytest -m postgres).
pytestmark = pytest.mark.postgres

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
    for (_uid, sha), msg in zip(rows, messages, strict=True):
        raw = msg.read()
        assert sha == hashlib.sha256(raw).hexdigest(), msg.path
        assert store.get(sha) == raw, msg.path
    folder.refresh_from_db()
    assert folder.message_count == len(messages)
    assert folder.total_bytes == sum(m.size for m in messages)


def test_the_same_message_in_two_folders_and_two_accounts_is_stored_once(archive_root, folder):
    raw = pick(limit=1)[0].read()
    other_folder = make_folder(folder.account, "Archive")
    other_account_folder = make_folder(make_account("bob"))
    for target in (folder, other_folder, other_account_folder):
        store_messages(target, [fetched(7, raw)])

    sha = hashlib.sha256(raw).hexdigest()
    assert Blob.objects.count() == 1
    assert Message.objects.filter(blob_id=sha).count() == 3
    assert list(get_store().iter_hashes()) == [sha]


def test_replaying_a_batch_duplicates_nothing(archive_root, folder):
    batch = [fetched(uid, m.read()) for uid, m in enumerate(pick(limit=5), start=1)]
    assert len(store_messages(folder, batch)) == 5
    assert store_messages(folder, batch) == []
    assert store_messages(folder, batch[:2] + batch) == []
    assert Message.objects.count() == 5
    folder.refresh_from_db()
    assert folder.message_count == 5


def test_the_row_keeps_flags_dates_sizes_and_parsed_headers(archive_root, folder):
    raw = (
        b"Message-ID: <abc@example.org>\r\nFrom: =?utf-8?q?J=C3=BCrgen?= <j@example.org>\r\n"
        b"To: a@example.org, B <b@example.org>\r\nCc: c@example.org\r\n"
        b"Subject: =?iso-8859-1?q?Gr=FC=DFe?=\r\n"
        b"Date: Tue, 30 Apr 2024 10:00:00 +0200\r\n\r\nhi\r\n"
    )
    msg = FetchedMessage(
        uid=42, raw=raw, flags=["\\Seen", "$Label1"], internal_date=WHEN, size=len(raw),
        gm_msgid=1278455344230334865, gm_labels=["\\Inbox", "Work"],
    )  # fmt: skip
    [row] = store_messages(folder, [msg])
    row.refresh_from_db()
    assert (row.uid, row.uidvalidity, row.size, row.internal_date) == (42, 1, len(raw), WHEN)
    assert row.flags == ["\\Seen", "$Label1"]
    assert (row.gm_msgid, row.gm_labels) == (1278455344230334865, ["\\Inbox", "Work"])
    assert row.message_id == "<abc@example.org>"
    assert row.from_addr == "Jürgen <j@example.org>"
    assert row.to_addrs == "a@example.org, B <b@example.org>"
    assert row.cc_addrs == "c@example.org"
    assert row.subject == "Grüße"
    assert row.date == datetime(2024, 4, 30, 8, 0, tzinfo=UTC)
    assert row.parse_error == "" and row.has_attachments is False


def test_a_crash_between_blob_write_and_row_commit_leaves_only_an_orphan_blob(archive_root, folder):
    raw = pick(limit=1)[0].read()
    sha = hashlib.sha256(raw).hexdigest()

    def crash(created):  # inside the transaction, the rows inserted, before the commit
        raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        store_messages(folder, [fetched(1, raw)], in_transaction=crash)

    assert get_store().exists(sha)  # the orphan: harmless
    assert not Blob.objects.exists() and not Message.objects.exists()
    folder.refresh_from_db()
    assert folder.message_count == 0
    # The retry finds the bytes already stored and completes.
    [row] = store_messages(folder, [fetched(1, raw)])
    assert row.blob_id == sha and get_store().get(sha) == raw


def test_no_row_is_written_when_a_blob_cannot_be_stored(archive_root, folder, monkeypatch):
    def disk_full(raws, meanwhile=None, written=None):
        raise OSError(28, "No space left on device")

    store = get_store()
    monkeypatch.setattr(store, "put_many", disk_full)
    with pytest.raises(OSError, match="No space"):
        store_messages(folder, [fetched(1, b"Subject: x\r\n\r\nbody")])
    assert not Blob.objects.exists() and not Message.objects.exists()


@pytest.fixture
def broken_codec():
    """A charset whose decoder fails with an error no decoder is expected to raise (as a
    buggy codec a package registered could): the parser meets an error it did not foresee."""

    def decode(data, errors="strict"):
        raise ValueError("codec bug")

    def search(name: str) -> codecs.CodecInfo | None:
        if name != "x_backupweb_broken":
            return None
        return codecs.CodecInfo(encode=codecs.utf_8_encode, decode=decode, name=name)

    codecs.register(search)
    yield "x-backupweb-broken"
    codecs.unregister(search)


def test_a_message_the_parser_cannot_read_is_stored_with_a_parse_error(
    archive_root, folder, broken_codec
):
    raw = f"Subject: =?{broken_codec}?q?caf=E9?=\r\n\r\nbody".encode()
    [row] = store_messages(folder, [fetched(1, raw)])
    assert "unexpected parser error: ValueError" in row.parse_error
    assert get_store().get(row.blob_id) == raw


def test_the_caller_can_commit_its_cursor_in_the_same_transaction(archive_root, folder):
    def advance(created):
        Folder.objects.filter(pk=folder.pk).update(highest_uid=max(m.uid for m in created))
        raise RuntimeError("crash after the cursor moved, before commit")

    raws = [m.read() for m in pick(limit=3)]
    with pytest.raises(RuntimeError):
        store_messages(
            folder, [fetched(u, r) for u, r in enumerate(raws, 1)], in_transaction=advance
        )
    folder.refresh_from_db()
    assert folder.highest_uid == 0 and not Message.objects.exists()

    with transaction.atomic():  # the other documented way: the caller's own transaction
        store_messages(folder, [fetched(u, r) for u, r in enumerate(raws, 1)])
        Folder.objects.filter(pk=folder.pk).update(highest_uid=3)
    folder.refresh_from_db()
    assert folder.highest_uid == 3 and Message.objects.count() == 3


def test_storing_a_parked_uid_clears_it_and_parking_again_counts_attempts(archive_root, folder):
    park_message(folder, 5, "timeout")
    again = park_message(folder, 5, "timeout again")
    assert (again.attempts, again.error) == (2, "timeout again")
    park_message(folder, 6, "too big")
    store_messages(folder, [fetched(5, b"Subject: x\r\n\r\nbody")])
    assert list(ParkedMessage.objects.values_list("uid", flat=True)) == [6]


def test_pop3_messages_keep_their_uidl_in_a_folder_without_uidvalidity(archive_root, account):
    inbox = make_folder(account, "INBOX", uidvalidity=None)
    msg = fetched(1, b"Subject: pop\r\n\r\nbody")
    msg.pop3_uidl = "AAAA-1234"
    [row] = store_messages(inbox, [msg])
    assert (row.uidvalidity, row.pop3_uidl) == (0, "AAAA-1234")
    with pytest.raises(IntegrityError):  # still one POP3 inbox per account
        make_folder(account, "INBOX", uidvalidity=None)
