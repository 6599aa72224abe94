"""Changes on the server between runs: flags, expunges, vanished folders, UIDVALIDITY resets.

Each test runs twice: on the session's Dovecot (CONDSTORE, QRESYNC, LIST-STATUS, ESEARCH) and on
a second instance that advertises none of them, so the sweep fallbacks are exercised too.
"""

from __future__ import annotations

import datetime as dt

import pytest

from archive.models import Blob, Folder, Message
from jobs.engine.backup.account import backup_account
from tests.corpus import pick
from tests.helpers.engine import archived, make_account
from tests.servers.dovecot import Dovecot
from tests.servers.mailbox import BASE_DATE, append, connect, ensure_folder, seed_mailbox

pytestmark = pytest.mark.django_db(transaction=True)

PLAIN_CAPABILITIES = "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE UIDPLUS UNSELECT NAMESPACE CHILDREN"


@pytest.fixture(scope="module")
def plain_dovecot():
    server = Dovecot.start(capabilities=PLAIN_CAPABILITIES)
    yield server
    server.stop()


@pytest.fixture(params=["rfc7162", "plain"])
def server(request, dovecot):
    return dovecot if request.param == "rfc7162" else request.getfixturevalue("plain_dovecot")


def seed(server, user, count=8):
    messages = pick(without=("malformed",), limit=count)
    return seed_mailbox(server, user, messages, folders=("INBOX", "R&D"))


def test_it_records_flag_changes_and_keeps_messages_deleted_on_the_server(server):
    user = server.add_user()
    seed(server, user)
    account = make_account(server, user)
    backup_account(account)
    client = connect(server, user)
    client.select_folder("INBOX")
    client.add_flags([2], [b"\\Flagged"])
    client.remove_flags([3], [b"\\Seen"])
    client.delete_messages([1])
    client.expunge()
    append(client, "INBOX", b"Subject: new\r\nMessage-ID: <new@x>\r\n\r\nnew\r\n")

    report = backup_account(account)

    assert report.messages_fetched == 1
    inbox = {m.uid: m for m in archived(account, "INBOX", live=False)}
    assert "\\Flagged" in inbox[2].flags
    assert "\\Seen" not in inbox[3].flags
    assert inbox[1].deleted_on_server_at is not None
    assert 5 in inbox and inbox[5].deleted_on_server_at is None
    folder_report = next(f for f in report.folders if f.folder == "INBOX")
    assert (folder_report.on_server, folder_report.in_archive) == (4, 4)
    assert folder_report.deleted_on_server == 1
    assert report.summary() == "all 8 messages on the server are in the archive"


def test_a_folder_deleted_on_the_server_is_kept_and_marked(server):
    user = server.add_user()
    seeded = seed(server, user)
    account = make_account(server, user)
    backup_account(account)
    connect(server, user).delete_folder("R&D")

    backup_account(account)

    folder = Folder.objects.get(account=account, name="R&D")
    assert folder.deleted_on_server_at is not None
    assert folder.messages.count() == len([s for s in seeded if s.folder == "R&D"])


def test_an_unchanged_account_costs_no_fetch(server):
    user = server.add_user()
    seed(server, user)
    account = make_account(server, user)
    backup_account(account)
    before = Message.objects.filter(folder__account=account).count()
    report = backup_account(account)
    assert report.state == "succeeded" and report.messages_fetched == 0
    assert Message.objects.filter(folder__account=account).count() == before


def test_a_uidvalidity_change_re_maps_messages_without_storing_anything_twice(server):
    user = server.add_user()
    client = connect(server, user)
    ensure_folder(client, "Projects")
    bodies = [m.read() for m in pick(without=("malformed",), limit=5)]
    bodies.append(b"Subject: no message-id\r\n\r\nmatched by its body\r\n")
    dates = [BASE_DATE + dt.timedelta(days=i) for i in range(len(bodies))]
    for raw, when in zip(bodies, dates, strict=True):
        append(client, "Projects", raw, when=when)
    account = make_account(server, user)
    backup_account(account)
    folder = Folder.objects.get(account=account, name="Projects")
    old_uidvalidity, old_pks = folder.uidvalidity, set(folder.messages.values_list("pk", flat=True))
    blobs = Blob.objects.count()

    # Recreate the folder: a new UIDVALIDITY, the first message gone, the rest back, one new.
    client.delete_folder("Projects")
    client.create_folder("Projects")
    for raw, when in zip(bodies[1:], dates[1:], strict=True):
        append(client, "Projects", raw, flags=(b"\\Seen",), when=when)
    append(client, "Projects", b"Subject: brand new\r\n\r\nnew\r\n")

    report = backup_account(account)

    assert report.state == "succeeded", report
    rows = Folder.objects.filter(account=account, raw_name="Projects")
    assert rows.count() == 1
    folder = rows.get()
    assert folder.uidvalidity != old_uidvalidity and folder.deleted_on_server_at is None
    assert Blob.objects.count() == blobs + 1  # only the brand new message
    live = folder.messages.filter(deleted_on_server_at__isnull=True)
    assert live.count() == 6 and set(live.values_list("uidvalidity", flat=True)) == {
        folder.uidvalidity
    }
    assert set(folder.messages.values_list("pk", flat=True)) >= old_pks  # history kept
    assert all("\\Seen" in m.flags for m in live.exclude(subject="brand new"))
    gone = folder.messages.get(deleted_on_server_at__isnull=False)
    assert gone.uidvalidity == old_uidvalidity
    again = backup_account(account)
    assert again.messages_fetched == 0 and Blob.objects.count() == blobs + 1


def test_the_second_server_really_offers_no_rfc7162(plain_dovecot):
    from mail.imap import ImapSession

    session = ImapSession(connect(plain_dovecot, plain_dovecot.add_user()))
    assert not (session.condstore or session.qresync or session.list_status or session.esearch)
