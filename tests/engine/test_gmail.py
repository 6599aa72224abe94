"""Gmail (X-GM-EXT-1): one download per message across labels. Dovecot has no X-GM-EXT-1, so
this drives the folder pass with a small fake session that answers like Gmail."""

from __future__ import annotations

import datetime as dt

import pytest

from archive.models import Blob, Message
from jobs.engine.backup.folder import Context, FolderBackup
from jobs.engine.backup.report import BackupOptions
from mail.imap import Examined, Fetched, Meta, ServerFolder
from tests.helpers.engine import make_account
from tests.servers.dovecot import MailUser

pytestmark = pytest.mark.django_db(transaction=True)
WHEN = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)


class FakeGmail:
    """Two labels showing the same two messages under different UIDs, like Gmail does."""

    gmail, condstore, qresync = True, False, False

    def __init__(self):
        one = b"Subject: one\r\nMessage-ID: <1@x>\r\n\r\nfirst\r\n"
        two = b"Subject: two\r\nMessage-ID: <2@x>\r\n\r\nsecond\r\n"
        self.folders = {
            "INBOX": {1: (111, one, ["\\Inbox"]), 2: (222, two, ["\\Inbox", "Work"])},
            "[Gmail]/All Mail": {7: (111, one, ["\\Inbox"]), 9: (222, two, ["Work"])},
        }
        self.selected = ""
        self.bodies_fetched: list[int] = []

    def examine(self, raw_name: str) -> Examined:
        self.selected = raw_name
        uids = self.folders[raw_name]
        return Examined(uidvalidity=5, uidnext=max(uids) + 1, exists=len(uids), highest_modseq=None)

    def search_uids(self, first_uid=1, since=None, before=None):
        return sorted(u for u in self.folders[self.selected] if u >= first_uid)

    def fetch_meta(self, uids, envelope=False):
        box = self.folders[self.selected]
        return {u: Meta(u, len(box[u][1]), WHEN, gm_msgid=box[u][0]) for u in uids if u in box}

    def fetch_bodies(self, uids, body=True):
        box = self.folders[self.selected]
        if body:
            self.bodies_fetched += [box[u][0] for u in uids]
        return [
            Fetched(u, box[u][1] if body else b"", [], WHEN, len(box[u][1]), box[u][0], box[u][2])
            for u in uids
        ]

    def fetch_flags(self, uids="1:*", changed_since=None, labels=None):
        box = self.folders[self.selected]
        if labels is not None:
            labels.update({u: list(box[u][2]) for u in box})
        return {u: [] for u in box}, []


def test_gmail_messages_are_downloaded_once_across_labels_with_their_labels(dovecot):
    account = make_account(dovecot, MailUser("gmail-user", "pw"))
    session = FakeGmail()
    ctx = Context(account, BackupOptions(), progress=lambda p: None, should_stop=lambda: False,
                  log=lambda m: None)  # fmt: skip
    for raw_name in ("INBOX", "[Gmail]/All Mail"):
        server = ServerFolder(raw_name, raw_name, "/", ())
        FolderBackup(session, server, ctx).run()

    assert sorted(session.bodies_fetched) == [111, 222]  # not four downloads
    rows = Message.objects.filter(folder__account=account)
    assert rows.count() == 4
    assert Blob.objects.filter(messages__folder__account=account).distinct().count() == 2
    work = rows.get(folder__raw_name="INBOX", uid=2)
    assert work.gm_msgid == 222 and work.gm_labels == ["\\Inbox", "Work"]
    assert rows.get(folder__raw_name="[Gmail]/All Mail", uid=9).gm_labels == ["Work"]


def test_gmail_label_changes_on_archived_messages_are_picked_up(dovecot):
    account = make_account(dovecot, MailUser("gmail-user", "pw"))
    session = FakeGmail()
    ctx = Context(account, BackupOptions(), progress=lambda p: None, should_stop=lambda: False,
                  log=lambda m: None)  # fmt: skip
    inbox = ServerFolder("INBOX", "INBOX", "/", ())
    FolderBackup(session, inbox, ctx).run()
    fetched = list(session.bodies_fetched)
    one = session.folders["INBOX"][1]
    session.folders["INBOX"][1] = (one[0], one[1], ["\\Inbox", "Receipts"])  # labelled since

    FolderBackup(session, inbox, ctx).run()

    assert session.bodies_fetched == fetched  # nothing downloaded again
    row = Message.objects.get(folder__account=account, folder__raw_name="INBOX", uid=1)
    assert row.gm_labels == ["\\Inbox", "Receipts"]
