"""Restore from the archive into real Dovecot accounts, including messages deleted on the server."""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest

from archive.models import Message
from jobs.engine.backup.account import backup_account
from jobs.engine.restore import RestoreOptions, restore_messages
from tests.engine.syncing import count, mailbox, sample
from tests.helpers.engine import archived_bytes, make_account
from tests.servers.mailbox import connect, seed_mailbox

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def backed_up(dovecot):
    """An account backed up, then wiped on the server: its archive still has everything."""
    user = dovecot.add_user()
    seed_mailbox(dovecot, user, sample(60), folders=("INBOX", "Sent", "Projects/2026"))
    account = make_account(dovecot, user)
    backup_account(account)
    client = connect(dovecot, user)
    for folder in ("INBOX", "Projects/2026"):
        client.select_folder(folder)
        client.delete_messages(client.search("ALL"))
        client.expunge()
    client.logout()
    backup_account(account)  # now those messages are marked deleted on the server
    assert Message.objects.filter(folder__account=account, deleted_on_server_at__isnull=False)
    return account, user


def archived_box(account, folder: str) -> Counter:
    rows = Message.objects.filter(folder__account=account, folder__name=folder)
    return Counter(
        (
            hashlib.sha256(archived_bytes(m)).hexdigest(),
            tuple(sorted(f for f in m.flags if f != "\\Recent")),
            m.internal_date.isoformat(),
        )
        for m in rows
    )


def test_messages_deleted_on_the_server_are_restored_with_their_flags_and_dates(backed_up, dovecot):
    account, user = backed_up

    report = restore_messages(account, account)  # back into the account they came from

    assert report.state == "succeeded", report.error
    box = mailbox(dovecot, user)
    for folder in ("INBOX", "Sent", "Projects/2026"):
        assert box[folder] == archived_box(account, folder)
    assert report.summary().endswith("are on the destination, 0 errors")


def test_a_restore_under_a_new_folder_on_another_server_restores_nothing_twice(
    backed_up, dotted_dovecot
):
    account, _user = backed_up
    dest_user = dotted_dovecot.add_user()
    dest = make_account(dotted_dovecot, dest_user)
    options = RestoreOptions(into="Restored 2026-11-21")

    dry = restore_messages(account, dest, RestoreOptions(into="Restored 2026-11-21", dry_run=True))
    assert "INBOX.Restored 2026-11-21" not in mailbox(dotted_dovecot, dest_user)
    first = restore_messages(account, dest, options)
    again = restore_messages(account, dest, options)

    total = Message.objects.filter(folder__account=account).count()
    assert sum(f.to_copy for f in dry.folders) == total == first.messages_fetched
    assert again.messages_fetched == 0 and again.state == "succeeded"
    box = mailbox(dotted_dovecot, dest_user)
    assert box["INBOX.Restored 2026-11-21.Projects.2026"] == archived_box(account, "Projects/2026")
    assert box["INBOX.Restored 2026-11-21.INBOX"] == archived_box(account, "INBOX")


def test_a_selection_of_messages_is_restored_and_a_copy_already_there_is_recognised(
    backed_up, dotted_dovecot
):
    account, _user = backed_up
    dest_user = dotted_dovecot.add_user()
    dest = make_account(dotted_dovecot, dest_user)
    chosen = list(
        Message.objects.filter(folder__account=account, folder__name="INBOX").order_by("pk")[:3]
    )
    client = connect(dotted_dovecot, dest_user)
    client.append("INBOX", archived_bytes(chosen[0]))  # already there, put by hand
    client.logout()

    report = restore_messages(account, dest, RestoreOptions(message_ids=[m.pk for m in chosen]))

    assert report.messages_fetched == 2
    assert report.folders[0].matched == 1
    assert count(dotted_dovecot, dest_user, "INBOX") == 3


def test_the_restore_command_dry_runs_then_restores_one_folder_under_a_prefix(
    backed_up, dotted_dovecot, capsys
):
    from django.core.management import call_command

    account, _user = backed_up
    dest_user = dotted_dovecot.add_user()
    dest = make_account(dotted_dovecot, dest_user)
    args = [account.name, "--to", dest.name, "--folder", "Projects/2026", "--into", "Old"]

    call_command("restore", *args, "--dry-run")
    dry = capsys.readouterr().out
    call_command("restore", *args)
    real = capsys.readouterr().out

    expected = Message.objects.filter(folder__account=account, folder__name="Projects/2026").count()
    assert f"Projects/2026: {expected} to copy into INBOX.Old.Projects.2026 (to create)" in dry
    assert "nothing changed" in dry
    assert f"all {expected} messages selected in the archive are on the destination" in real
    assert mailbox(dotted_dovecot, dest_user)["INBOX.Old.Projects.2026"] == archived_box(
        account, "Projects/2026"
    )


def test_a_restore_tells_the_bytes_to_copy_before_copying_them(backed_up):
    account, _user = backed_up
    seen = []

    report = restore_messages(account, account, progress=seen.append)

    for folder in {p.folder for p in seen}:
        mine = [p for p in seen if p.folder == folder]
        planned, copying = mine[0], [p for p in mine if p.state in ("running", "done")]
        assert planned.state == "pending" and planned.total_bytes > 0
        # What is due (the messages not on the destination yet) is told before the first copy.
        assert len({p.total_bytes for p in copying}) == 1
        assert copying[0].total_bytes <= planned.total_bytes
        assert copying[-1].state == "done" and copying[-1].bytes == copying[-1].total_bytes
    assert sum(p.total_bytes for p in seen if p.state == "done") == report.bytes_fetched > 0
