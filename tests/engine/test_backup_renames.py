"""A folder renamed on the server between two backups is followed, not downloaded again."""

from __future__ import annotations

import pytest

from archive.models import Folder, Message
from jobs.engine.backup.account import backup_account
from tests.engine.syncing import sample
from tests.helpers.engine import make_account
from tests.servers.imap_faults import ImapFaultProxy
from tests.servers.mailbox import append, connect, seed_mailbox

pytestmark = pytest.mark.django_db(transaction=True)


def rename(dovecot, user, old: str, new: str) -> None:
    client = connect(dovecot, user)
    client.rename_folder(old, new)
    client.logout()


def test_a_folder_renamed_on_the_server_is_not_downloaded_again(dovecot):
    user = dovecot.add_user()
    seed_mailbox(dovecot, user, sample(40), folders=("INBOX", "Projects", "Old"))
    account = make_account(dovecot, user)
    backup_account(account)
    archived = Message.objects.filter(folder__account=account).count()
    rename(dovecot, user, "Projects", "Projects 2027")
    client = connect(dovecot, user)  # a deleted folder and a new one with other mail
    client.delete_folder("Old")
    client.create_folder("Fresh")
    append(client, "Fresh", b"Subject: fresh\r\nMessage-ID: <f@x>\r\n\r\nfresh\r\n")
    client.logout()
    logs: list[str] = []

    report = backup_account(account, log=logs.append)

    assert report.messages_fetched == 1  # Fresh's message, not Projects' again
    assert Message.objects.filter(folder__account=account).count() == archived + 1
    names = set(Folder.objects.filter(account=account).values_list("name", flat=True))
    assert "Projects 2027" in names and "Projects" not in names
    assert Folder.objects.get(account=account, name="Old").deleted_on_server_at is not None
    assert report.folders_gone == ["Old"]  # the renamed folder raises no alarm
    assert "Projects" not in report.warning and "folders gone: Old" in report.warning
    assert [line for line in logs if "renamed on the server" in line] == [
        "Projects 2027: renamed on the server from Projects: its archived messages are kept "
        "under the new name, not downloaded again"
    ]


def test_a_renamed_folder_with_a_new_message_fetches_only_that_message(dovecot):
    user = dovecot.add_user()
    seed_mailbox(dovecot, user, sample(40), folders=("INBOX", "Lists.old"))
    account = make_account(dovecot, user)
    backup_account(account)
    rename(dovecot, user, "Lists.old", "Lists/Renamed")
    client = connect(dovecot, user)
    append(client, "Lists/Renamed", b"Subject: new\r\nMessage-ID: <n@x>\r\n\r\nnew\r\n")
    client.logout()

    report = backup_account(account)

    assert report.messages_fetched == 1
    folder = Folder.objects.get(account=account, name="Lists/Renamed")
    assert folder.deleted_on_server_at is None
    assert not Folder.objects.filter(account=account, name="Lists.old").exists()


def test_with_objectid_a_renamed_folder_is_followed_by_its_mailboxid_whatever_it_holds(dovecot):
    user = dovecot.add_user()
    seed_mailbox(dovecot, user, sample(40), folders=("INBOX", "Projects"))
    proxy = ImapFaultProxy(dovecot.imap_port, refuse_append_when_examined=False, objectid=True)
    account = make_account(dovecot, user, port=proxy.port)
    try:
        backup_account(account)
        before = Message.objects.filter(folder__account=account, folder__name="Projects").count()
        rename(dovecot, user, "Projects", "Projects 2027")
        client = connect(dovecot, user)  # nothing left that the content could be matched by
        client.select_folder("Projects 2027")
        client.delete_messages(client.search("ALL"))
        client.expunge()
        append(client, "Projects 2027", b"Subject: new\r\nMessage-ID: <n2@x>\r\n\r\nnew\r\n")
        client.logout()
        report = backup_account(account)
    finally:
        proxy.close()

    assert report.messages_fetched == 1
    (folder,) = Folder.objects.filter(account=account, name__startswith="Projects")
    assert folder.name == "Projects 2027" and folder.mailbox_id == f"M{folder.uidvalidity}"
    kept = Message.objects.filter(folder=folder)
    assert kept.count() == before + 1
    assert kept.filter(deleted_on_server_at__isnull=False).count() == before
