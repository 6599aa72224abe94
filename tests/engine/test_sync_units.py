"""Small units of sync: folder mapping, fingerprints, and Gmail de-duplication across labels
(Dovecot has no X-GM-EXT-1, so a small fake answers like Gmail on the source side)."""

from __future__ import annotations

import datetime as dt

import pytest

from jobs.engine.copying import fingerprint
from jobs.engine.copying.mapping import Layout, Rule, parse_rules, plan, refuse_merges
from jobs.engine.sync import plan as sync_plan
from jobs.engine.sync.account import sync_accounts
from jobs.models import SyncedMessage
from mail.imap import Examined, Fetched, Meta, ServerFolder
from tests.engine.syncing import mailbox
from tests.helpers.engine import make_account
from tests.servers.dovecot import MailUser

SLASH = Layout("/")
DOTTED = Layout(".", "INBOX.")


def folder(name: str, use: str = "", delimiter: str = "/", flags=()) -> ServerFolder:
    return ServerFolder(name, name, delimiter, tuple(flags), use)


def targets(maps) -> dict[str, str]:
    return {m.source.name: (m.target_name or f"skip: {m.skip}") for m in maps}


def test_names_are_translated_between_delimiters_and_namespace_prefixes():
    source = [folder("INBOX"), folder("Projects/2026"), folder("lists.linux"), folder("Ünï")]
    dest = [folder("INBOX", delimiter=".")]
    assert targets(plan(source, SLASH, dest, DOTTED)) == {
        "INBOX": "INBOX",
        "Projects/2026": "INBOX.Projects.2026",
        "lists.linux": "INBOX.lists_linux",
        "Ünï": "INBOX.Ünï",
    }
    back = [folder(n, delimiter=".") for n in ("INBOX", "INBOX.Projects.2026", "INBOX.a/b")]
    assert targets(plan(back, DOTTED, [], SLASH)) == {
        "INBOX": "INBOX",
        "INBOX.Projects.2026": "Projects/2026",
        "INBOX.a/b": "a_b",
    }
    encoded = {m.source.name: m.target_raw for m in plan(source, SLASH, dest, DOTTED)}
    assert encoded["Ünï"] == "INBOX.&ANw-n&AO8-"


def test_a_folder_named_inbox_under_the_inbox_prefix_is_not_taken_for_inbox():
    source = [folder(n, delimiter=".") for n in ("INBOX", "INBOX.INBOX.child", "INBOX.child")]
    assert targets(plan(source, DOTTED, [], DOTTED)) == {
        "INBOX": "INBOX",
        "INBOX.INBOX.child": "INBOX.INBOX.child",
        "INBOX.child": "INBOX.child",
    }
    assert targets(plan(source, DOTTED, [], SLASH))["INBOX.INBOX.child"] == "INBOX/INBOX/child"


def test_two_folders_that_would_meet_on_the_destination_are_not_merged():
    source = [folder("INBOX"), folder("INBOX/x"), folder("x"), folder("y")]
    maps = plan(source, SLASH, [], DOTTED)
    refuse_merges(maps, DOTTED)
    assert {m.source.name: m.skip for m in maps if m.skip} == {
        "INBOX/x": "it would be merged into INBOX.x with x; to copy it under another name, "
        "add a folder mapping rule such as 'INBOX/x -> INBOX_x'"
    }
    assert [m.source.name for m in maps if m.merged] == ["INBOX/x"]
    ruled = plan(source, SLASH, [], DOTTED, rules=[Rule("INBOX/x", "INBOX_x")])
    refuse_merges(ruled, DOTTED)
    assert not any(m.merged for m in ruled)


def test_special_use_folders_go_to_the_destinations_folder_with_the_same_use():
    source = [
        folder("Sent Items", "\\Sent"),
        folder("Deleted Items", "\\Trash"),
        folder("Spam", "\\Junk"),
    ]
    dest = [folder("INBOX.Sent", "\\Sent", "."), folder("INBOX.Junk", "\\Junk", ".")]
    maps = plan(source, SLASH, dest, DOTTED)
    assert targets(maps) == {
        "Sent Items": "INBOX.Sent",
        "Deleted Items": "INBOX.Deleted Items",  # no Trash there: the name is kept
        "Spam": "INBOX.Junk",
    }
    assert [m.exists for m in maps] == [False, True, True]


def test_rules_exact_pattern_and_exclusion_come_first():
    rules = parse_rules("Old/Stuff -> Archive/Old\nProjects/* -> Work/*\nPrivate ->\n")
    source = [
        folder("Old/Stuff"),
        folder("Projects/A/B"),
        folder("Private"),
        folder("Sent", "\\Sent"),
    ]
    dest = [folder("Sent", "\\Sent")]
    assert targets(plan(source, SLASH, dest, SLASH, rules=rules)) == {
        "Old/Stuff": "Archive/Old",
        "Projects/A/B": "Work/A/B",
        "Private": "skip: excluded by a rule",
        "Sent": "Sent",
    }
    with pytest.raises(ValueError):
        parse_rules("no arrow here")
    assert Rule("Team*", "Teams/*").apply(("Team Space",)) == ("Teams", " Space")


def test_gmail_views_are_left_out_and_all_mail_goes_last_into_the_archive():
    source = [
        folder("[Gmail]/All Mail", "\\All"),
        folder("[Gmail]/Starred", "\\Flagged"),
        folder("[Gmail]/Sent Mail", "\\Sent"),
        folder("INBOX"),
        folder("Work"),
    ]
    dest = [folder("INBOX.Sent", "\\Sent", "."), folder("INBOX.Archive", "\\Archive", ".")]
    maps = plan(source, SLASH, dest, DOTTED, gmail=True)
    assert [m.source.name for m in maps if not m.skip] == [
        "Work", "INBOX", "[Gmail]/Sent Mail", "[Gmail]/All Mail",
    ]  # fmt: skip
    assert targets(maps)["[Gmail]/All Mail"] == "INBOX.Archive"
    assert targets(maps)["[Gmail]/Starred"].startswith("skip: Gmail view")
    plain = targets(plan(source, SLASH, dest, DOTTED, gmail=True, gmail_dedupe=False))
    assert plain["[Gmail]/All Mail"] == "INBOX.[Gmail].All Mail"


def test_fingerprints_use_message_id_and_size_or_the_stable_headers():
    a = b"Message-ID: <a@x>\r\nSubject: one\r\n\r\nbody\r\n"
    assert fingerprint.of_message(a) == fingerprint.of_message(a.replace(b"one", b"two"))
    assert fingerprint.of_message(a) != fingerprint.of_message(a + b"more")
    folded = b"From: a@x\r\nSubject: a long\r\n  subject\r\nDate: Mon, 1 Jan 2024\r\n\r\nx"
    same = b"Subject: a long subject\nFrom: a@x\nDate: Mon, 1 Jan 2024\nX-Other: 1\n\nx"
    assert fingerprint.of_message(folded, 10) == fingerprint.of_message(same, 10)
    assert fingerprint.of_message(folded, 10) != fingerprint.of_message(
        same.replace(b"a@x", b"b@x"), 10
    )
    # What a HEADER.FIELDS FETCH returns fingerprints like the whole message.
    fetched = b"Message-ID: <a@x>\r\nSubject: one\r\n\r\n"
    assert fingerprint.fingerprint(fetched, len(a)) == fingerprint.of_message(a)


WHEN = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)


class FakeGmailSource:
    """Labels showing the same messages under different UIDs, like Gmail's IMAP."""

    gmail, condstore, qresync = True, False, False
    capabilities = {"IMAP4REV1", "X-GM-EXT-1"}
    FOLDERS = (
        ("INBOX", ""), ("Work", ""), ("[Gmail]/All Mail", "\\All"),
        ("[Gmail]/Starred", "\\Flagged"), ("[Gmail]/Sent Mail", "\\Sent"),
    )  # fmt: skip

    def __init__(self):
        m = {
            n: (100 + n, b"Message-ID: <%d@gmail>\r\nSubject: %d\r\n\r\nbody %d\r\n" % (n, n, n))
            for n in range(1, 5)
        }
        self.boxes = {
            "INBOX": {1: m[1]},
            "Work": {3: m[1], 4: m[2]},
            "[Gmail]/All Mail": {1: m[1], 2: m[2], 3: m[3], 4: m[4]},
            "[Gmail]/Starred": {9: m[1]},
            "[Gmail]/Sent Mail": {5: m[4]},
        }
        self.selected = ""

    def list_folders(self):
        return [folder(name, use) for name, use in self.FOLDERS]

    def examine(self, raw_name):
        self.selected = raw_name
        box = self.boxes[raw_name]
        return Examined(uidvalidity=7, uidnext=max(box) + 1, exists=len(box), highest_modseq=None)

    def search_uids(self, first_uid=1, since=None, before=None):
        return sorted(self.boxes[self.selected])

    def fetch_meta(self, uids, envelope=False):
        box = self.boxes[self.selected]
        return {u: Meta(u, len(box[u][1]), WHEN, gm_msgid=box[u][0]) for u in uids}

    def fetch_bodies(self, uids, body=True):
        box = self.boxes[self.selected]
        return [Fetched(u, box[u][1], ["\\Seen"], WHEN, len(box[u][1]), box[u][0]) for u in uids]

    def fingerprints(self, uids):
        box = self.boxes[self.selected]
        return {u: fingerprint.of_message(box[u][1]) for u in uids}

    def fetch_flags(self, uids="1:*", changed_since=None):
        return {u: ["\\Seen"] for u in self.boxes[self.selected]}, []

    def logout(self):
        return None


@pytest.mark.django_db(transaction=True)
def test_gmail_messages_are_copied_once_into_their_most_specific_folder(
    dotted_dovecot, monkeypatch
):
    source = make_account(dotted_dovecot, MailUser("gmail-source", "unused"))
    dest_user = dotted_dovecot.add_user()
    dest = make_account(dotted_dovecot, dest_user)
    monkeypatch.setattr(sync_plan, "connect_source", lambda account: FakeGmailSource())

    report = sync_accounts(source, dest)
    again = sync_accounts(source, dest)

    box = mailbox(dotted_dovecot, dest_user)
    counts = {name: sum(c.values()) for name, c in box.items() if sum(c.values())}
    assert counts == {"INBOX.Work": 2, "INBOX.Sent": 1, "INBOX.Archive": 1}
    assert report.state == "succeeded" and report.messages_fetched == 4
    assert again.messages_fetched == 0
    assert report.summary() == "all 8 messages of the source are on the destination, 0 errors"
    assert SyncedMessage.objects.filter(source=source, how="deduped").count() == 4
