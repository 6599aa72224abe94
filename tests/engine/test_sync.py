"""Sync between two real Dovecot users: the source with `/` and no namespace prefix, the
destination with `.` under `INBOX.` (Courier style), so every name is translated."""

from __future__ import annotations

import pytest

from jobs.engine.copying.mapping import Rule
from jobs.engine.copying.report import SyncOptions
from jobs.engine.sync.account import sync_accounts
from jobs.models import SyncedMessage
from tests.engine.syncing import NO_MESSAGE_ID, count, mailbox, sample
from tests.helpers.engine import make_account
from tests.servers.mailbox import append, connect, seed_mailbox

pytestmark = pytest.mark.django_db(transaction=True)

# Source display name -> destination display name on the dotted server.
EXPECTED_NAMES = {
    "INBOX": "INBOX",
    "Ünïcode Ordner": "INBOX.Ünïcode Ordner",
    "R&D": "INBOX.R&D",
    "Team Space": "INBOX.Team Space",
    "lists.linux.clk": "INBOX.lists_linux_clk",
    "Projects/2026/Q4/Deep Dive": "INBOX.Projects.2026.Q4.Deep Dive",
    "Archive": "INBOX.Archive",
    "Sent": "INBOX.Sent",
    "Drafts": "INBOX.Drafts",
    "Trash": "INBOX.Trash",
    "Junk": "INBOX.Junk",
}


@pytest.fixture
def pair(dovecot, dotted_dovecot):
    source_user, dest_user = dovecot.add_user(), dotted_dovecot.add_user()
    source = make_account(dovecot, source_user)
    dest = make_account(dotted_dovecot, dest_user)
    return source, dest, source_user, dest_user


def seed(dovecot, user, step=40):
    seeded = seed_mailbox(dovecot, user, sample(step))
    client = connect(dovecot, user)
    append(client, "Drafts", NO_MESSAGE_ID, flags=(b"\\Draft",))
    append(client, "Sent", sample(7)[3].read(), flags=(b"\\Seen",))
    client.logout()
    return seeded


def translated(source_box: dict) -> dict:
    return {EXPECTED_NAMES[name]: messages for name, messages in source_box.items()}


def test_a_full_copy_equals_the_source_byte_for_byte_with_flags_and_dates(
    pair, dovecot, dotted_dovecot
):
    source, dest, source_user, dest_user = pair
    seed(dovecot, source_user)

    report = sync_accounts(source, dest)

    assert report.state == "succeeded", report.error
    assert translated(mailbox(dovecot, source_user)) == mailbox(dotted_dovecot, dest_user)
    total = sum(sum(c.values()) for c in mailbox(dovecot, source_user).values())
    assert (
        report.summary() == f"all {total:,} messages of the source are on the destination, 0 errors"
    )
    assert report.messages_fetched == total


def test_a_re_run_copies_nothing_and_still_verifies_everything(pair, dovecot, dotted_dovecot):
    source, dest, source_user, dest_user = pair
    seed(dovecot, source_user, step=80)
    sync_accounts(source, dest)
    before = mailbox(dotted_dovecot, dest_user)

    again = sync_accounts(source, dest)

    assert again.messages_fetched == 0
    assert again.state == "succeeded"
    assert mailbox(dotted_dovecot, dest_user) == before
    assert again.summary().startswith("all ")


def test_a_hand_made_duplicate_on_the_destination_is_not_duplicated_further(
    pair, dovecot, dotted_dovecot
):
    source, dest, source_user, dest_user = pair
    seed(dovecot, source_user, step=80)
    sync_accounts(source, dest)
    dest_client = connect(dotted_dovecot, dest_user)
    raw = sample(80)[0].read()
    append(dest_client, "INBOX", raw)  # the admin copied a message by hand: now it is twice there
    # ... and a new source message was also put on the destination by hand before the re-run.
    new = b"Message-ID: <by-hand@example.org>\r\nSubject: by hand\r\n\r\nhello\r\n"
    append(dest_client, "INBOX.Team Space", new)
    dest_client.logout()
    source_client = connect(dovecot, source_user)
    append(source_client, "Team Space", new)
    source_client.logout()
    inbox_before = count(dotted_dovecot, dest_user, "INBOX")

    report = sync_accounts(source, dest)

    assert report.messages_fetched == 0
    assert count(dotted_dovecot, dest_user, "INBOX") == inbox_before
    assert count(dotted_dovecot, dest_user, "INBOX.Team Space") == count(
        dovecot, mail_user_of(source_user), "Team Space"
    )
    matched = SyncedMessage.objects.filter(source=source, how="matched")
    assert matched.count() == 1
    assert report.state == "succeeded"


def mail_user_of(user):
    return user


def test_a_dry_run_lists_what_it_would_do_and_changes_nothing(pair, dovecot, dotted_dovecot):
    source, dest, source_user, dest_user = pair
    seed(dovecot, source_user, step=80)
    empty = mailbox(dotted_dovecot, dest_user)

    report = sync_accounts(source, dest, SyncOptions(dry_run=True))

    assert mailbox(dotted_dovecot, dest_user) == empty
    assert not SyncedMessage.objects.filter(source=source).exists()
    by_folder = {f.folder: f for f in report.folders}
    source_box = mailbox(dovecot, source_user)
    for name, messages in source_box.items():
        assert by_folder[name].to_copy == sum(messages.values())
    creates = {f.target for f in report.folders if f.create}
    assert "INBOX.Projects.2026.Q4.Deep Dive" in creates and "INBOX.Sent" not in creates
    assert report.summary().startswith("dry run: would create 5 folders and copy ")


def test_folder_filters_rules_and_the_size_cap_are_applied(pair, dovecot, dotted_dovecot):
    source, dest, source_user, dest_user = pair
    seed(dovecot, source_user, step=80)
    options = SyncOptions(
        rules=[Rule("Projects/*", "Work/*"), Rule("R&D", "")],
        exclude=["Team Space"],
        max_message_size=20_000,
    )

    report = sync_accounts(source, dest, options)

    box = mailbox(dotted_dovecot, dest_user)
    assert "INBOX.Work.2026.Q4.Deep Dive" in box
    assert "INBOX.R&D" not in box and "INBOX.Team Space" not in box
    sizes = connect(dotted_dovecot, dest_user)
    sizes.select_folder("INBOX", readonly=True)
    fetched = sizes.fetch(sizes.search("ALL"), ["RFC822.SIZE"])
    assert fetched and all(v[b"RFC822.SIZE"] <= 20_000 for v in fetched.values())
    sizes.logout()
    skipped = {f.folder: f.error for f in report.folders if f.state == "skipped"}
    assert skipped == {"R&D": "excluded by a rule", "Team Space": "excluded"}
    assert report.state == "succeeded"


def test_the_date_range_selects_messages_by_internal_date(pair, dovecot, dotted_dovecot):
    import datetime as dt

    source, dest, source_user, dest_user = pair
    seeded = seed_mailbox(dovecot, source_user, sample(100), folders=("INBOX",))
    cut = seeded[len(seeded) // 2].internal_date.date() + dt.timedelta(days=1)

    report = sync_accounts(source, dest, SyncOptions(since=cut))

    later = [s for s in seeded if s.internal_date.date() >= cut]
    assert 0 < len(later) < len(seeded)
    assert count(dotted_dovecot, dest_user, "INBOX") == len(later) == report.messages_fetched


def test_flag_changes_and_deletions_are_carried_over_only_when_asked(pair, dovecot, dotted_dovecot):
    source, dest, source_user, dest_user = pair
    client = connect(dovecot, source_user)
    uids = [append(client, "INBOX", m.read()) for m in sample(200)[:4]]
    sync_accounts(source, dest)
    client.select_folder("INBOX")
    client.add_flags([uids[0]], [b"\\Flagged", b"$Important"])
    client.delete_messages([uids[1]])
    client.expunge()
    client.logout()

    sync_accounts(source, dest)  # neither option: the destination keeps both as they were
    assert count(dotted_dovecot, dest_user, "INBOX") == 4

    report = sync_accounts(source, dest, SyncOptions(sync_flags=True, mirror_deletions=True))

    inbox = {f.folder: f for f in report.folders}["INBOX"]
    assert (inbox.flags_updated, inbox.deleted) == (1, 1)
    assert mailbox(dotted_dovecot, dest_user)["INBOX"] == mailbox(dovecot, source_user)["INBOX"]


def test_a_sync_tells_the_bytes_to_copy_before_copying_them(pair, dovecot, dotted_dovecot):
    source, dest, source_user, _dest_user = pair
    seed(dovecot, source_user)
    seen = []

    report = sync_accounts(source, dest, progress=seen.append)

    running = [p for p in seen if p.state == "running" and p.total]
    assert running and all(p.total_bytes >= p.bytes for p in running)
    first_told = {}
    for p in running:
        first_told.setdefault(p.folder, p.total_bytes)
    assert sum(first_told.values()) == report.bytes_fetched  # told before, equal after
