"""Sync and restore against servers that behave like Courier and Cyrus instead of Dovecot.

The destination is a Dovecot laid out like them (`INBOX.` prefix, `.` separator) behind
`ImapFaultProxy`: the Courier-like one advertises no LITERAL+, CONDSTORE or MULTIAPPEND and
refuses an APPEND into the mailbox open with EXAMINE (and CREATE of chosen names); the Cyrus-like
one replaces 8-bit header bytes with `X`. Copies are compared byte for byte with what the
servers serve.
"""

from __future__ import annotations

import email
import email.policy

import pytest
from imapclient.imap_utf7 import encode as encode_utf7

from archive.models import Message
from jobs.engine.backup.account import backup_account
from jobs.engine.copying.mapping import parse_rules
from jobs.engine.copying.report import SyncOptions
from jobs.engine.restore import RestoreOptions, restore_messages
from jobs.engine.sync.account import sync_accounts
from jobs.kinds import sync_options
from tests.engine.syncing import mailbox, sample
from tests.helpers.engine import make_account
from tests.servers.dovecot import Dovecot
from tests.servers.imap_faults import ImapFaultProxy
from tests.servers.mailbox import append, connect, seed_mailbox

pytestmark = pytest.mark.django_db(transaction=True)

COURIER_CAPABILITIES = "IMAP4rev1 UIDPLUS CHILDREN NAMESPACE IDLE SORT ENABLE SPECIAL-USE"


@pytest.fixture(scope="module")
def courier():
    """A Dovecot that looks like Courier-IMAP 5 to a client (reach it through `proxied`)."""
    server = Dovecot.start(separator=".", prefix="INBOX.", capabilities=COURIER_CAPABILITIES)
    yield server
    server.stop()


def proxied(server: Dovecot, user, **faults):
    proxy = ImapFaultProxy(server.imap_port, **faults)
    return proxy, make_account(server, user, port=proxy.port)


def dotted(box: dict) -> dict:
    """A `/` mailbox's names as the `INBOX.`-prefixed server shows them."""
    return {
        ("INBOX" if n == "INBOX" else "INBOX." + n.replace("/", ".")): c for n, c in box.items()
    }


def test_a_sync_into_courier_copies_every_message_although_it_refuses_append_into_examined(
    dovecot, courier
):
    source_user, dest_user = dovecot.add_user(), courier.add_user()
    seed_mailbox(dovecot, source_user, sample(40), folders=("INBOX", "Team Space", "Lists/Linux"))
    proxy, dest = proxied(courier, dest_user)
    try:
        report = sync_accounts(make_account(dovecot, source_user), dest)
    finally:
        proxy.close()

    assert report.state == "succeeded", report.error
    assert dotted(mailbox(dovecot, source_user)) == mailbox(courier, dest_user)


ODD_DOTTED = ("INBOX", "INBOX.INBOX.child", "INBOX.child", "INBOX.Team Space")
ODD_COURIER_NAMES = ODD_DOTTED + ("INBOX. name", "INBOX.name", "INBOX.back\\slash", "INBOX.Ünï")


def slashed(box: dict) -> dict:
    """An `INBOX.`-prefixed mailbox's names as a `/` server without a prefix shows them: a
    folder named INBOX among INBOX's children stays a folder of its own under INBOX."""
    return {_slashed_name(n): c for n, c in box.items()}


def _slashed_name(name: str) -> str:
    rest = name.removeprefix("INBOX.").replace(".", "/")
    return "INBOX/" + rest if rest.upper().startswith("INBOX/") else rest


def test_a_sync_from_courier_keeps_a_folder_named_inbox_apart_from_inbox(dovecot, courier):
    source_user, dest_user = courier.add_user(), dovecot.add_user()
    seed_mailbox(courier, source_user, sample(45), folders=ODD_DOTTED)
    proxy, source = proxied(courier, source_user)
    try:
        report = sync_accounts(source, make_account(dovecot, dest_user))
    finally:
        proxy.close()

    assert report.state == "succeeded", report.error
    assert slashed(mailbox(courier, source_user)) == mailbox(dovecot, dest_user)


def test_inbox_inbox_child_and_inbox_child_stay_two_folders_between_dotted_servers(
    courier, dotted_dovecot
):
    source_user, dest_user = courier.add_user(), dotted_dovecot.add_user()
    seed_mailbox(courier, source_user, sample(45), folders=ODD_DOTTED)
    proxy, source = proxied(courier, source_user)
    try:
        report = sync_accounts(source, make_account(dotted_dovecot, dest_user))
    finally:
        proxy.close()

    assert report.state == "succeeded", report.error
    assert mailbox(courier, source_user) == mailbox(dotted_dovecot, dest_user)


def archived_hashes(account) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for message in Message.objects.filter(folder__account=account).select_related("folder"):
        found.setdefault(message.folder.name, []).append(message.blob_id)
    return {name: sorted(hashes) for name, hashes in found.items()}


def served_hashes(box: dict) -> dict[str, list[str]]:
    return {name: sorted(h for h, _f, _d in c.elements()) for name, c in box.items() if c}


def test_a_courier_archive_with_odd_names_is_exact_and_restores_into_courier_folder_by_folder(
    courier,
):
    source_user, dest_user = courier.add_user(), courier.add_user()
    seed_mailbox(courier, source_user, sample(25), folders=ODD_COURIER_NAMES)
    source_proxy, account = proxied(courier, source_user)
    dest_proxy, dest = proxied(courier, dest_user)
    try:
        backed_up = backup_account(account)
        again = backup_account(account)
        report = restore_messages(account, dest, RestoreOptions())
    finally:
        source_proxy.close()
        dest_proxy.close()

    assert backed_up.state == again.state == "succeeded" and again.messages_fetched == 0
    assert archived_hashes(account) == served_hashes(mailbox(courier, source_user))
    assert report.state == "succeeded", report.error
    assert mailbox(courier, source_user) == mailbox(courier, dest_user)


def test_a_restore_into_courier_restores_every_archived_message(dovecot, courier):
    source_user, dest_user = dovecot.add_user(), courier.add_user()
    seed_mailbox(dovecot, source_user, sample(50), folders=("INBOX", "Projects/2026"))
    account = make_account(dovecot, source_user)
    backup_account(account)
    client = connect(courier, dest_user)
    append(client, "INBOX", sample(50)[0].read())  # the folder exists and holds mail already
    client.logout()
    proxy, dest = proxied(courier, dest_user)
    try:
        report = restore_messages(account, dest, RestoreOptions())
    finally:
        proxy.close()

    assert report.state == "succeeded", report.error
    assert sum(f.matched for f in report.folders) == 1
    assert dotted(mailbox(dovecot, source_user)) == mailbox(courier, dest_user)


def test_the_proxy_refuses_append_into_a_mailbox_open_with_examine(courier):
    user = courier.add_user()
    proxy = ImapFaultProxy(courier.imap_port)
    client = connect(courier, user, port=proxy.port)
    try:
        client.select_folder("INBOX", readonly=True)
        with pytest.raises(Exception, match="READ-ONLY"):
            client.append("INBOX", b"Subject: x\r\n\r\nbody\r\n")
        client.select_folder("INBOX")
        client.append("INBOX", b"Subject: x\r\n\r\nbody\r\n")
    finally:
        client.logout()
        proxy.close()
    assert len(proxy.refused) == 1


REFUSED = ("INBOX", "back\\slash", "Emoji 📧 Box", "Team Space")


def refusing_courier(courier: Dovecot, user):
    names = ("INBOX.back\\slash", encode_utf7("INBOX.Emoji 📧 Box").decode())
    return proxied(courier, user, refuse_create=names)


def without(box: dict, *names: str) -> dict:
    return {n: c for n, c in box.items() if n not in names}


def test_folders_the_destination_refuses_to_create_are_reported_and_the_rest_is_copied(
    dovecot, courier
):
    source_user, dest_user = dovecot.add_user(), courier.add_user()
    seeded = seed_mailbox(dovecot, source_user, sample(40), folders=REFUSED)
    source = make_account(dovecot, source_user)
    proxy, dest = refusing_courier(courier, dest_user)
    try:
        first = sync_accounts(source, dest)
        again = sync_accounts(source, dest)
        rules = parse_rules("back\\slash -> back_slash\nEmoji 📧 Box -> Emoji Box")
        renamed = sync_accounts(source, dest, SyncOptions(rules=rules))
    finally:
        proxy.close()

    in_backslash = sum(s.folder == "back\\slash" for s in seeded)
    by_name = {f.folder: f for f in first.folders}
    assert first.state == again.state == "partial"
    assert by_name["back\\slash"].state == "failed"
    assert (
        "refused to create the folder “INBOX.back\\slash”: [CANNOT] Invalid mailbox name; "
        f"its {in_backslash} messages were not copied. To copy them under another name, add a "
        "folder mapping rule such as 'back\\slash -> back_slash'."
    ) in by_name["back\\slash"].error
    assert by_name["Emoji 📧 Box"].state == "failed" and "'Emoji 📧 Box -> Emoji _ Box'" in (
        by_name["Emoji 📧 Box"].error
    )
    assert again.messages_fetched == 0
    assert renamed.state == "succeeded", renamed.error
    source_box = mailbox(dovecot, source_user)
    expected = dotted(without(source_box, "back\\slash", "Emoji 📧 Box"))
    expected["INBOX.back_slash"] = source_box["back\\slash"]
    expected["INBOX.Emoji Box"] = source_box["Emoji 📧 Box"]
    assert mailbox(courier, dest_user) == expected


def test_a_restore_reports_a_folder_the_destination_refuses_and_restores_the_rest(dovecot, courier):
    source_user, dest_user = dovecot.add_user(), courier.add_user()
    seed_mailbox(dovecot, source_user, sample(40), folders=REFUSED)
    account = make_account(dovecot, source_user)
    backup_account(account)
    proxy, dest = refusing_courier(courier, dest_user)
    try:
        report = restore_messages(account, dest, RestoreOptions())
    finally:
        proxy.close()

    assert report.state == "partial"
    failed = sorted(f.folder for f in report.folders if f.state == "failed")
    assert failed == ["Emoji 📧 Box", "back\\slash"]
    source_box = without(mailbox(dovecot, source_user), "back\\slash", "Emoji 📧 Box")
    assert mailbox(courier, dest_user) == dotted(source_box)


EIGHT_BIT = (
    b"From: =?utf-8?q?J=C3=BCrgen?= <j@example.org>\r\nTo: b@example.org\r\n"
    b"Subject: Gr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln\r\nMessage-ID: <8bit-1@example.org>\r\n"
    b"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\nHallo.\r\n"
)


def header_is_8bit(raw: bytes) -> bool:
    return any(b > 0x7F for b in raw.split(b"\r\n\r\n", 1)[0])


def test_messages_whose_bytes_the_destination_changed_are_reported_by_name(dovecot, dotted_dovecot):
    source_user, dest_user = dovecot.add_user(), dotted_dovecot.add_user()
    seed_mailbox(dovecot, source_user, sample(30), folders=("INBOX",))
    client = connect(dovecot, source_user)
    append(client, "INBOX", EIGHT_BIT)
    client.select_folder("INBOX", readonly=True)
    bodies = client.fetch(client.search("ALL"), ["BODY.PEEK[]"])
    client.logout()
    expected = sorted(uid for uid, d in bodies.items() if header_is_8bit(d[b"BODY[]"]))
    proxy = ImapFaultProxy(
        dotted_dovecot.imap_port, refuse_append_when_examined=False, rewrite_8bit_headers=True
    )
    try:
        dest = make_account(dotted_dovecot, dest_user, port=proxy.port)
        report = sync_accounts(make_account(dovecot, source_user), dest)
    finally:
        proxy.close()

    inbox = next(f for f in report.folders if f.folder == "INBOX")
    assert sorted(uid for uid, _name in inbox.altered) == expected
    assert report.state == "partial"
    assert "the destination changed the bytes of" in report.error
    assert f"UID {max(bodies)} “Grüße aus Köln”" in report.error
    assert f"{len(expected)} changed by the destination" in report.summary()
    assert sum(mailbox(dotted_dovecot, dest_user)["INBOX"].values()) == len(bodies)


def test_a_restore_reports_the_messages_whose_bytes_the_destination_changed(
    dovecot, dotted_dovecot
):
    source_user, dest_user = dovecot.add_user(), dotted_dovecot.add_user()
    client = connect(dovecot, source_user)
    append(client, "INBOX", sample(30)[0].read())
    append(client, "INBOX", EIGHT_BIT)
    client.logout()
    account = make_account(dovecot, source_user)
    backup_account(account)
    proxy = ImapFaultProxy(
        dotted_dovecot.imap_port, refuse_append_when_examined=False, rewrite_8bit_headers=True
    )
    try:
        dest = make_account(dotted_dovecot, dest_user, port=proxy.port)
        report = restore_messages(account, dest, RestoreOptions())
    finally:
        proxy.close()

    eight_bit = Message.objects.get(folder__account=account, subject__startswith="Gr")
    assert report.state == "partial"
    assert report.folders[0].altered == [(eight_bit.pk, "“Grüße aus Köln”")]
    assert sum(mailbox(dotted_dovecot, dest_user)["INBOX"].values()) == 2


def test_with_encode_8bit_headers_asked_for_the_destination_keeps_every_byte_sent(
    dovecot, dotted_dovecot
):
    source_user, dest_user = dovecot.add_user(), dotted_dovecot.add_user()
    client = connect(dovecot, source_user)
    append(client, "INBOX", EIGHT_BIT)
    client.logout()
    proxy = ImapFaultProxy(
        dotted_dovecot.imap_port, refuse_append_when_examined=False, rewrite_8bit_headers=True
    )
    options = sync_options({"encode_8bit_headers": True})
    try:
        dest = make_account(dotted_dovecot, dest_user, port=proxy.port)
        report = sync_accounts(make_account(dovecot, source_user), dest, options)
    finally:
        proxy.close()

    assert report.state == "succeeded", report.error
    client = connect(dotted_dovecot, dest_user)
    client.select_folder("INBOX", readonly=True)
    (copy,) = client.fetch(client.search("ALL"), ["BODY.PEEK[]"]).values()
    client.logout()
    parsed = email.message_from_bytes(copy[b"BODY[]"], policy=email.policy.default)
    assert parsed["Subject"] == "Grüße aus Köln"
    assert not header_is_8bit(copy[b"BODY[]"])
    assert copy[b"BODY[]"].endswith(b"\r\n\r\nHallo.\r\n")


def test_inbox_slash_x_and_x_are_not_merged_into_one_courier_folder(dovecot, courier):
    source_user, dest_user = dovecot.add_user(), courier.add_user()
    seed_mailbox(dovecot, source_user, sample(40), folders=("INBOX", "INBOX/x", "x"))
    proxy, dest = proxied(courier, dest_user)
    try:
        report = sync_accounts(make_account(dovecot, source_user), dest)
    finally:
        proxy.close()

    by_name = {f.folder: f for f in report.folders}
    assert report.state == "partial"
    assert by_name["INBOX/x"].state == "failed"
    assert "would be merged into INBOX.x with x" in by_name["INBOX/x"].error
    source_box, dest_box = mailbox(dovecot, source_user), mailbox(courier, dest_user)
    assert dest_box["INBOX.x"] == source_box["x"]
    assert dest_box["INBOX"] == source_box["INBOX"]


def test_a_restore_never_merges_two_archived_folders_into_one_courier_folder(dovecot, courier):
    source_user, dest_user = dovecot.add_user(), courier.add_user()
    seed_mailbox(dovecot, source_user, sample(40), folders=("INBOX", "x", "INBOX/x"))
    account = make_account(dovecot, source_user)
    backup_account(account)
    proxy, dest = proxied(courier, dest_user)
    try:
        report = restore_messages(account, dest, RestoreOptions())
    finally:
        proxy.close()

    failed = [f for f in report.folders if f.state == "failed"]
    assert report.state == "partial" and len(failed) == 1
    kept = ({"x", "INBOX/x"} - {failed[0].folder}).pop()
    assert failed[0].error.startswith(f"it would be merged into INBOX.x with {kept}; its ")
    source_box, dest_box = mailbox(dovecot, source_user), mailbox(courier, dest_user)
    assert dest_box["INBOX.x"] == source_box[kept]
