"""POP3 backup against a real Dovecot: UIDL decides what is new, nothing is ever deleted."""

from __future__ import annotations

import poplib

import pytest

from jobs.engine.backup.account import backup_account
from tests.corpus import pick
from tests.helpers.engine import archived, archived_bytes, make_account
from tests.servers.mailbox import append, connect, seed_mailbox

pytestmark = pytest.mark.django_db(transaction=True)


def pop3_raw(dovecot, user) -> list[bytes]:
    """What the server serves for each message, read with poplib (lines rejoined with CRLF)."""
    client = poplib.POP3("127.0.0.1", dovecot.pop3_port)
    client.user(user.username)
    client.pass_(user.password)
    count, _ = client.stat()
    bodies = [b"".join(line + b"\r\n" for line in client.retr(i + 1)[1]) for i in range(count)]
    client.quit()
    return bodies


def test_pop3_backup_is_incremental_and_keeps_what_the_server_dropped(dovecot, mail_user):
    # Short lines only: poplib (our reference reader here) refuses lines over 2,048 bytes.
    messages = [
        m for m in pick(without=("malformed",)) if max(map(len, m.read().splitlines())) < 1000
    ]
    seed_mailbox(dovecot, mail_user, messages[:6], folders=("INBOX",))
    account = make_account(dovecot, mail_user, protocol="pop3")

    first = backup_account(account)

    assert first.state == "succeeded" and first.messages_fetched == 6
    rows = list(archived(account, "INBOX").order_by("uid"))
    assert [archived_bytes(r) for r in rows] == pop3_raw(dovecot, mail_user)
    assert all(r.pop3_uidl for r in rows)
    assert backup_account(account).messages_fetched == 0  # nothing new: nothing fetched

    client = connect(dovecot, mail_user)
    client.select_folder("INBOX")
    client.delete_messages([1])
    client.expunge()
    append(client, "INBOX", b"Subject: later\r\n\r\nlater\r\n")

    third = backup_account(account)

    assert third.messages_fetched == 1
    assert archived(account, "INBOX").count() == 6
    assert archived(account, "INBOX", live=False).count() == 7
    assert third.summary() == "all 6 messages on the server are in the archive"
    assert len(pop3_raw(dovecot, mail_user)) == 6  # RETR never deleted anything
