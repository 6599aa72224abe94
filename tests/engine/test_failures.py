"""Things going wrong: a message that cannot be stored, a wrong password, a dropped connection."""

from __future__ import annotations

import time

import pytest

from archive import folder_state as state
from archive.models import ParkedMessage
from jobs.engine.backup.account import backup_account
from jobs.engine.backup.report import BackupOptions
from mail.errors import AuthenticationFailed
from tests.corpus import pick
from tests.helpers.engine import archived, archived_bytes, make_account
from tests.servers.mailbox import append, connect, fetch_raw, seed_mailbox
from tests.servers.proxy import DroppingProxy

pytestmark = pytest.mark.django_db(transaction=True)


def medium_messages(count: int):
    return [m for m in pick(without=("malformed",)) if 80_000 < m.size < 300_000][:count]


def test_a_message_that_fails_to_store_is_parked_and_the_rest_completes(
    dovecot, mail_user, monkeypatch
):
    seed_mailbox(dovecot, mail_user, pick(without=("malformed",), limit=6), folders=("INBOX",))
    client = connect(dovecot, mail_user)
    poison = append(client, "INBOX", b"Subject: poison\r\n\r\nPOISON\r\n")
    append(client, "INBOX", b"Subject: after the poison\r\n\r\nfine\r\n")
    real_store = state.store_messages

    def failing_store(folder, fetched, **kwargs):
        if any(b"POISON" in m.raw for m in fetched):
            raise OSError("disk says no")
        return real_store(folder, fetched, **kwargs)

    monkeypatch.setattr(state, "store_messages", failing_store)
    account = make_account(dovecot, mail_user)

    report = backup_account(account)

    assert report.state == "partial"
    inbox = next(f for f in report.folders if f.folder == "INBOX")
    assert inbox.parked == 1 and inbox.parked_uids == [poison]
    assert archived(account, "INBOX").count() == 7  # everything else, including what follows
    assert "parked" in report.summary() and str(poison) in report.error
    parked = ParkedMessage.objects.get(uid=poison)
    assert "disk says no" in parked.error

    monkeypatch.setattr(state, "store_messages", real_store)
    again = backup_account(account)
    assert again.state == "succeeded" and again.messages_fetched == 1
    assert not ParkedMessage.objects.filter(folder__account=account).exists()
    assert again.summary() == "all 8 messages on the server are in the archive"


def test_a_wrong_password_fails_at_once(dovecot, mail_user):
    account = make_account(dovecot, mail_user)
    account.set_secret("not-the-password")
    account.save()
    started = time.monotonic()
    with pytest.raises(AuthenticationFailed) as caught:
        backup_account(account)
    assert time.monotonic() - started < 10
    assert "not-the-password" not in str(caught.value)


def test_a_connection_dropped_mid_fetch_is_resumed_without_loss_or_duplicates(dovecot, mail_user):
    messages = pick(without=("malformed",), limit=40)
    seeded = seed_mailbox(dovecot, mail_user, messages, folders=("INBOX",))
    total = sum(len(m.read()) for m in messages)
    proxy = DroppingProxy(dovecot.imap_port, after=total // 3, drops=2)
    account = make_account(dovecot, mail_user, port=proxy.port, max_connections=1)
    logs: list[str] = []
    try:
        report = backup_account(account, BackupOptions(batch_bytes=total // 10), log=logs.append)
    finally:
        proxy.close()
    assert proxy.dropped >= 1 and any("connection lost" in line for line in logs)
    assert report.state == "succeeded", report
    rows = archived(account, "INBOX")
    assert sorted(rows.values_list("uid", flat=True)) == [s.uid for s in seeded]
    client = connect(dovecot, mail_user)
    for row in rows:
        assert archived_bytes(row) == fetch_raw(client, "INBOX", row.uid)


def test_the_daily_budget_pauses_the_run_and_the_next_run_continues(dovecot, mail_user):
    messages = medium_messages(20)  # about 2.9 MB
    seed_mailbox(dovecot, mail_user, messages, folders=("INBOX",))
    account = make_account(dovecot, mail_user, daily_budget_mb=1, max_connections=1)
    report = backup_account(account, BackupOptions(batch_bytes=100_000))
    assert report.state == "paused"
    assert 0 < report.messages_fetched < len(messages)
    assert "daily download budget" in report.summary()
    account.daily_budget_mb = 1000
    account.save()
    again = backup_account(account)
    assert again.state == "succeeded"
    assert report.messages_fetched + again.messages_fetched == len(messages)


def test_a_paused_run_shows_a_folder_not_reached_with_what_it_still_had_to_fetch(
    dovecot, mail_user
):
    messages = medium_messages(20)
    seed_mailbox(dovecot, mail_user, messages[:3], folders=("Later",))
    account = make_account(dovecot, mail_user, max_connections=1)
    assert backup_account(account, BackupOptions(include=["INBOX", "Later"])).state == "succeeded"
    client = connect(dovecot, mail_user)
    for message in messages[3:]:  # INBOX, the biggest, goes first and spends the budget
        append(client, "INBOX", message.read())
    append(client, "Later", b"Subject: new\r\n\r\nnew in Later\r\n")
    client.logout()
    account.daily_budget_mb = state.bytes_downloaded_today(account) // 2**20 + 1
    account.save()
    seen = []
    report = backup_account(
        account, BackupOptions(include=["INBOX", "Later"]), progress=seen.append
    )
    assert report.state == "paused"
    later = next(f for f in report.folders if f.folder == "Later")
    assert (later.state, later.on_server, later.in_archive) == ("paused", 4, 3)
    last = [e for e in seen if e.folder == "Later"][-1]
    assert (last.state, last.done, last.total, last.total_bytes) == ("paused", 0, 1, 0)


def test_the_bandwidth_cap_slows_the_download(dovecot, mail_user):
    messages = medium_messages(10)  # about 1.5 MB
    seed_mailbox(dovecot, mail_user, messages, folders=("INBOX",))
    total = sum(m.size for m in messages)
    account = make_account(dovecot, mail_user, bandwidth_limit=total // 2)
    started = time.monotonic()
    report = backup_account(account)
    assert report.state == "succeeded"
    assert time.monotonic() - started >= 0.9  # ~2 s of data at the cap, minus the first bucket
