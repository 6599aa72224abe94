"""A message whose FETCH breaks the connection every time is found, parked and skipped; a
connection that breaks once on it is only a blip."""

from __future__ import annotations

import hashlib
import imaplib
from types import SimpleNamespace

import pytest

from archive.models import Folder, ParkedMessage
from jobs.engine.backup.account import backup_account
from jobs.engine.backup.folder import Context, FolderBackup
from jobs.engine.backup.report import BackupOptions
from jobs.engine.copying.report import SyncOptions
from jobs.engine.drops import Suspects
from jobs.engine.sync.account import sync_accounts
from tests.corpus import pick
from tests.engine.syncing import count, mailbox
from tests.helpers.engine import archived, archived_bytes, make_account
from tests.servers.mailbox import append, connect, fetch_raw
from tests.servers.proxy import PoisonProxy

pytestmark = pytest.mark.django_db(transaction=True)

MARKER = b"X-Poison: yes"
POISON = b"Subject: breaks the connection\r\nX-Poison: yes\r\n\r\nevery time\r\n"


@pytest.fixture
def poisoned_inbox(dovecot, mail_user):
    """19 corpus messages in INBOX with the poison message in the middle; returns
    (poison UID, the other UIDs, options whose batches hold several messages)."""
    messages = pick(without=("malformed",), limit=19)
    client = connect(dovecot, mail_user)
    raws = [m.read() for m in messages]
    uids = [append(client, "INBOX", raw) for raw in raws[:10]]
    poison = append(client, "INBOX", POISON)
    uids += [append(client, "INBOX", raw) for raw in raws[10:]]
    client.logout()
    assert not any(MARKER in raw for raw in raws)
    return poison, uids, BackupOptions(batch_bytes=sum(map(len, raws)) // 4)


def test_a_message_that_drops_the_connection_every_time_is_parked_and_the_rest_completes(
    dovecot, mail_user, poisoned_inbox
):
    poison, others, options = poisoned_inbox
    proxy = PoisonProxy(dovecot.imap_port, MARKER)
    account = make_account(dovecot, mail_user, port=proxy.port, max_connections=1)
    try:
        report = backup_account(account, options)

        assert report.state == "partial", report
        inbox = next(f for f in report.folders if f.folder == "INBOX")
        assert inbox.parked_uids == [poison] and str(poison) in report.error
        parked = ParkedMessage.objects.get(folder__account=account, uid=poison)
        expected = "the server dropped the connection every time this message was fetched"
        assert parked.error == f"{expected} (3 attempts)"
        rows = archived(account, "INBOX")
        assert sorted(rows.values_list("uid", flat=True)) == others
        client = connect(dovecot, mail_user)
        for row in rows:
            assert archived_bytes(row) == fetch_raw(client, "INBOX", row.uid)
        assert Folder.objects.get(account=account, name="INBOX").highest_uid == max(others)
        assert proxy.dropped == 3 and proxy.connections <= 5  # listing + 1 + 3 reconnects

        # The next run fetches only the parked message, alone, and parks it again at once.
        connections, dropped = proxy.connections, proxy.dropped
        again = backup_account(account, options)
        assert again.state == "partial" and again.messages_fetched == 0
        assert proxy.dropped - dropped == 1 and proxy.connections - connections <= 3
        parked.refresh_from_db()
        assert parked.attempts == 2 and parked.error == f"{expected} (1 attempt, fetched alone)"
    finally:
        proxy.close()

    # Once the server serves it, the next run archives it and nothing stays parked.
    account.port = dovecot.imap_port
    account.save()
    fixed = backup_account(account, options)
    assert fixed.state == "succeeded" and fixed.messages_fetched == 1
    assert not ParkedMessage.objects.filter(folder__account=account).exists()
    assert archived_bytes(archived(account, "INBOX").get(uid=poison)) == POISON


def test_a_folder_with_a_parked_message_shows_partial_with_what_was_fetched_of_what_was_due(
    dovecot, mail_user, poisoned_inbox
):
    from jobs import live, runner
    from jobs.models import Job, JobRun

    poison, others, options = poisoned_inbox
    proxy = PoisonProxy(dovecot.imap_port, MARKER)
    account = make_account(dovecot, mail_user, port=proxy.port, max_connections=1)
    job = Job.objects.create(name="Backup", account=account, options={"batch_bytes": 20_000})
    try:
        run, _ = runner.trigger(job, JobRun.Trigger.MANUAL, send=False)
        run = runner.execute(run.pk)
    finally:
        proxy.close()
    assert run.state == JobRun.State.PARTIAL
    inbox = live.folder_bar(run.folders.get(folder="INBOX"), run.finished_at)
    assert (inbox.state, inbox.done, inbox.total) == ("partial", len(others), len(others) + 1)
    assert not inbox.complete and inbox.percent < 100
    assert inbox.error == "1 parked (retried next run)"


def test_a_message_whose_fetch_times_out_every_time_is_parked(
    dovecot, mail_user, poisoned_inbox, settings
):
    settings.CONNECTION_TIMEOUT = 1  # also the read timeout once logged in
    poison, others, options = poisoned_inbox
    proxy = PoisonProxy(dovecot.imap_port, MARKER, stall=True)
    account = make_account(dovecot, mail_user, port=proxy.port, max_connections=1)
    try:
        report = backup_account(account, options)
    finally:
        proxy.close()
    assert report.state == "partial" and proxy.dropped == 3
    parked = ParkedMessage.objects.get(folder__account=account)
    assert parked.uid == poison and parked.error.endswith("fetched (3 attempts)")
    assert sorted(archived(account, "INBOX").values_list("uid", flat=True)) == others


@pytest.mark.parametrize("drops", [1, 2])
def test_a_connection_that_breaks_on_a_message_only_once_or_twice_parks_nothing(
    dovecot, mail_user, poisoned_inbox, drops
):
    poison, others, options = poisoned_inbox
    proxy = PoisonProxy(dovecot.imap_port, MARKER, drops=drops)
    account = make_account(dovecot, mail_user, port=proxy.port, max_connections=1)
    logs: list[str] = []
    try:
        report = backup_account(account, options, log=logs.append)
    finally:
        proxy.close()
    assert proxy.dropped == drops and sum("connection lost" in line for line in logs) == drops
    assert report.state == "succeeded", report
    assert not ParkedMessage.objects.filter(folder__account=account).exists()
    rows = archived(account, "INBOX")
    assert sorted(rows.values_list("uid", flat=True)) == sorted([*others, poison])


def sync_through_poison_proxy(dovecot, dotted_dovecot, mail_user, dest_user, options):
    """Sync INBOX to the dotted Dovecot, the source behind a proxy that cuts every connection
    that serves a poison message; (report, proxy)."""
    proxy = PoisonProxy(dovecot.imap_port, MARKER)
    source = make_account(dovecot, mail_user, port=proxy.port, max_connections=1)
    dest = make_account(dotted_dovecot, dest_user)
    try:
        return sync_accounts(source, dest, SyncOptions(batch_bytes=options.batch_bytes)), proxy
    finally:
        proxy.close()


def test_a_sync_leaves_out_a_source_message_that_drops_the_connection_and_copies_the_rest(
    dovecot, dotted_dovecot, mail_user, poisoned_inbox
):
    poison, others, options = poisoned_inbox
    dest_user = dotted_dovecot.add_user()
    report, proxy = sync_through_poison_proxy(
        dovecot, dotted_dovecot, mail_user, dest_user, options
    )

    assert report.state == "partial" and proxy.dropped == 3
    inbox = next(f for f in report.folders if f.folder == "INBOX")
    error = "source: the server dropped the connection every time this message was fetched"
    assert inbox.refused == {poison: f"{error} (3 attempts)"}
    assert inbox.missing == [(poison, inbox.refused[poison])]
    assert inbox.on_destination == len(others) == count(dotted_dovecot, dest_user, "INBOX")
    on_source, copied = mailbox(dovecot, mail_user)["INBOX"], mailbox(dotted_dovecot, dest_user)
    left_out = on_source - copied["INBOX"]
    assert [sha for sha, _, _ in left_out] == [hashlib.sha256(POISON).hexdigest()]


def test_a_sync_with_two_bad_messages_in_one_folder_leaves_out_both_and_copies_the_rest(
    dovecot, dotted_dovecot, mail_user, poisoned_inbox
):
    # The reconnect budget (5) starts again after every attempt that copied something or left
    # a bad message out, so several bad messages in one folder do not fail it.
    poison, others, options = poisoned_inbox
    client = connect(dovecot, mail_user)
    second = append(client, "INBOX", POISON.replace(b"every time", b"again"))
    client.logout()
    dest_user = dotted_dovecot.add_user()
    report, proxy = sync_through_poison_proxy(
        dovecot, dotted_dovecot, mail_user, dest_user, options
    )

    assert report.state == "partial"
    inbox = next(f for f in report.folders if f.folder == "INBOX")
    assert sorted(inbox.refused) == [poison, second]
    assert inbox.on_destination == len(others) == count(dotted_dovecot, dest_user, "INBOX")


def test_suspects_isolate_a_batch_after_two_drops_and_condemn_at_the_third():
    suspects = Suspects()
    suspects.dropped([4, 5, 6])
    assert not suspects.isolate([4, 5, 6]) and suspects.condemned() == {}
    suspects.dropped([4, 5, 6])
    assert suspects.isolate([3, 4, 5]) and not suspects.isolate([5])
    suspects.dropped([5])
    assert suspects.condemned() == {5: 3}
    suspects.probed = {9}  # parked for drops by an earlier run: one drop is enough
    suspects.dropped([9])
    assert suspects.condemned() == {5: 3, 9: 1}


def test_a_single_message_the_server_refuses_is_parked_instead_of_failing_the_folder():
    class Refusing:
        def fetch_bodies(self, uids, body=True):
            raise imaplib.IMAP4.error("FETCH failed: NO [SERVERBUG] Internal error")

    ctx = Context(None, BackupOptions(), print, lambda: False, print)
    backup = FolderBackup(Refusing(), SimpleNamespace(name="INBOX"), ctx)
    fetched, failed = backup._download([7])
    assert fetched == [] and failed == [
        (7, "fetch failed: FETCH failed: NO [SERVERBUG] Internal error")
    ]
