"""The protocol layer against a real Dovecot: listing, EXAMINE, SEARCH, fetching, RFC 7162."""

from __future__ import annotations

import datetime as dt

import pytest

from jobs.engine.batching import batches_by_bytes
from mail.imap import ImapSession
from mail.imap_wire import parse_sequence_set, sequence_set
from tests.corpus import pick
from tests.servers.mailbox import BASE_DATE, append, connect, ensure_folder, seed_mailbox


@pytest.fixture
def seeded(dovecot, mail_user):
    messages = pick(without=("malformed",), limit=12)
    seed_mailbox(dovecot, mail_user, messages, folders=("INBOX", "R&D", "Ünïcode Ordner"))
    return mail_user


def session(dovecot, user) -> ImapSession:
    return ImapSession(connect(dovecot, user))


def test_it_lists_folders_with_delimiter_special_use_and_status(dovecot, seeded):
    s = session(dovecot, seeded)
    folders = {f.name: f for f in s.list_folders()}
    assert folders["Ünïcode Ordner"].raw_name == "&ANw-n&AO8-code Ordner"
    assert folders["R&D"].raw_name == "R&-D"
    assert folders["Sent"].special_use == "\\Sent"
    assert folders["Trash"].special_use == "\\Trash"
    assert folders["INBOX"].delimiter == "/"
    assert s.list_status and s.qresync and s.condstore
    assert folders["INBOX"].status.messages == 4
    assert folders["INBOX"].status.highest_modseq is not None
    s.examine("INBOX")  # STATUS=SIZE: the folder's bytes, as RFC822.SIZE counts them
    sizes = [m.size for m in s.fetch_meta(set(s.search_uids())).values()]
    assert folders["INBOX"].status.size == sum(sizes) > 0


def test_it_examines_read_only_and_fetches_without_setting_seen(dovecot, seeded):
    s = session(dovecot, seeded)
    info = s.examine("INBOX")
    assert info.exists == 4 and info.uidnext == 5 and info.highest_modseq
    sizes = {m.uid: m.size for m in s.fetch_meta([1, 2, 3, 4]).values()}
    fetched = s.fetch_bodies(list(sizes))
    assert [f.uid for f in fetched] == [1, 2, 3, 4]
    assert all(len(f.raw) == f.size == sizes[f.uid] for f in fetched)
    assert fetched[0].flags == [] and fetched[0].internal_date.tzinfo is not None
    again = session(dovecot, seeded)
    again.examine("INBOX")
    flags, _ = again.fetch_flags()
    assert "\\Seen" not in flags[1]


def test_it_searches_a_date_range_on_the_server(dovecot, seeded):
    s = session(dovecot, seeded)
    s.examine("INBOX")
    # Seeded one per hour from BASE_DATE, round-robin over 3 folders: INBOX has hours 0, 3, 6, 9.
    assert s.search_uids() == [1, 2, 3, 4]
    assert s.search_uids(first_uid=3) == [3, 4]
    assert s.search_uids(first_uid=9) == []
    later = BASE_DATE.date() + dt.timedelta(days=1)
    assert s.search_uids(since=later) == []
    assert s.search_uids(before=later) == [1, 2, 3, 4]


def test_it_reports_flag_changes_and_vanished_uids_since_a_modseq(dovecot, seeded):
    s = session(dovecot, seeded)
    before = s.examine("INBOX").highest_modseq
    writer = connect(dovecot, seeded)
    writer.select_folder("INBOX")
    writer.add_flags([2], [b"\\Flagged"])
    writer.delete_messages([3])
    writer.expunge()
    s.examine("INBOX")
    flags, vanished = s.fetch_flags(changed_since=before)
    assert "\\Flagged" in flags[2] and 1 not in flags
    assert vanished == [3]


def test_it_survives_odd_folder_names(dovecot, mail_user):
    client = connect(dovecot, mail_user)
    for name in ('quote"and\\slash', "per%cent*star", "a b/c.d"):
        ensure_folder(client, name)
        append(client, name, b"Subject: x\r\n\r\nbody\r\n")
    s = session(dovecot, mail_user)
    names = {f.name: f.raw_name for f in s.list_folders()}
    for name in ('quote"and\\slash', "per%cent*star", "a b/c.d"):
        assert s.examine(names[name]).exists == 1


def test_batches_are_bounded_by_bytes_and_a_big_message_travels_alone():
    sizes = {1: 3, 2: 3, 3: 50, 4: 1, 5: 1}
    assert list(batches_by_bytes(sizes, 8)) == [[1, 2], [3], [4, 5]]


def test_sequence_sets_round_trip():
    assert sequence_set([5, 1, 2, 3, 9, 10]) == "1:3,5,9:10"
    assert parse_sequence_set("1:3,5,10:9") == [1, 2, 3, 5, 9, 10]


def test_the_fast_fetch_parser_agrees_with_imapclient(dovecot, seeded):
    from imapclient.response_parser import parse_fetch_response

    from mail.imap_wire import fast_body, parse_bodies

    literal = b"Subject: x\r\n\r\n) {5}\r\n"
    prefix = b'7 (UID 7 FLAGS (\\Seen $Label1) INTERNALDATE "01-Jan-2024 09:30:00 +0100" '
    item = (prefix + b"RFC822.SIZE 21 BODY[] {21}", literal)
    assert fast_body(item) is not None
    fast = parse_bodies([item, b")"])[7]
    slow = parse_fetch_response([item, b")"], False, True)[7]
    for key in (b"FLAGS", b"INTERNALDATE", b"RFC822.SIZE", b"BODY[]"):
        assert fast[key] == slow[key]
    s = session(dovecot, seeded)
    s.examine("INBOX")
    mine = {f.uid: f for f in s.fetch_bodies([1, 2, 3, 4])}
    theirs = s.client.fetch([1, 2, 3, 4], ["FLAGS", "INTERNALDATE", "BODY.PEEK[]"])
    for uid, data in theirs.items():
        assert mine[uid].raw == data[b"BODY[]"]
        assert mine[uid].internal_date == data[b"INTERNALDATE"]


def test_the_fast_size_fetch_agrees_with_imapclient(dovecot, seeded):
    from mail.imap_wire import SIZE_LINE

    assert SIZE_LINE.match(b"2 (RFC822.SIZE 77 UID 9)").group("uid2") == b"9"
    assert SIZE_LINE.match(b"3 (UID 5 RFC822.SIZE 1 FLAGS ())") is None  # the general parser
    s = session(dovecot, seeded)
    s.examine("INBOX")
    mine = s.fetch_meta([1, 2, 3, 4, 99])
    theirs = s.client.fetch([1, 2, 3, 4], ["RFC822.SIZE"])
    assert {uid: m.size for uid, m in mine.items()} == {
        uid: data[b"RFC822.SIZE"] for uid, data in theirs.items()
    }
