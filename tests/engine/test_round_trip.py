"""Byte-exact round trip of the whole corpus, and a single 50 MB message."""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
import tracemalloc

import pytest
from imapclient.exceptions import IMAPClientError

from jobs.engine.backup.account import backup_account
from tests.corpus import corpus_messages
from tests.helpers.engine import archived, archived_bytes, make_account
from tests.servers.mailbox import SEED_FOLDERS, append, connect, ensure_folder

pytestmark = pytest.mark.django_db(transaction=True)


def seed_everything(dovecot, user):
    """APPEND every corpus message over SEED_FOLDERS; returns (seeded, refused) lists."""
    client = connect(dovecot, user)
    for folder in SEED_FOLDERS:
        ensure_folder(client, folder)
    seeded, refused = [], []
    for message, folder in zip(corpus_messages(), itertools.cycle(SEED_FOLDERS), strict=False):
        try:
            seeded.append((folder, append(client, folder, message.read()), message))
        except IMAPClientError as exc:
            refused.append((message.path, str(exc)))
    client.logout()
    return seeded, refused


def test_every_corpus_message_comes_back_byte_for_byte(dovecot, mail_user):
    seeded, refused = seed_everything(dovecot, mail_user)
    print(f"\n{len(seeded)} corpus messages seeded, {len(refused)} refused by Dovecot: {refused}")
    assert len(refused) < 10  # Dovecot takes nearly everything; the rest is reported above
    account = make_account(dovecot, mail_user)

    report = backup_account(account)

    assert report.state == "succeeded", report.error
    assert report.summary() == f"all {len(seeded):,} messages on the server are in the archive"
    rows = {(m.folder.name, m.uid): m for m in archived(account)}
    client = connect(dovecot, mail_user)
    for folder in SEED_FOLDERS:
        client.select_folder(folder, readonly=True)
        uids = [uid for f, uid, _ in seeded if f == folder]
        for start in range(0, len(uids), 200):
            served = client.fetch(uids[start : start + 200], [b"BODY.PEEK[]"])
            for uid, data in served.items():
                assert archived_bytes(rows[(folder, uid)]) == data[b"BODY[]"], (folder, uid)
    assert len(rows) == len(seeded)


def big_message(megabytes: int) -> bytes:
    payload = base64.encodebytes(os.urandom(megabytes * 1024 * 1024 * 3 // 4))
    head = (
        b"From: big@example.org\r\nTo: you@example.org\r\nSubject: a big one\r\n"
        b"Message-ID: <big@example.org>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    )
    return head + payload.replace(b"\n", b"\r\n")


def test_a_50_mb_message_goes_through_with_a_few_copies_of_itself_at_most(dovecot, mail_user):
    raw = big_message(50)
    client = connect(dovecot, mail_user)
    uid = append(client, "INBOX", raw)
    expected = hashlib.sha256(raw).hexdigest()
    del raw
    account = make_account(dovecot, mail_user)

    tracemalloc.start()
    try:
        report = backup_account(account)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert report.state == "succeeded", report.error
    row = archived(account, "INBOX").get(uid=uid)
    assert row.blob_id == expected and row.size > 50_000_000
    assert hashlib.sha256(archived_bytes(row)).hexdigest() == expected
    print(f"\npeak {peak / 1e6:.0f} MB for {row.size / 1e6:.0f} MB")
    assert peak < 5 * row.size, f"peak {peak / 1e6:.0f} MB for a {row.size / 1e6:.0f} MB message"
