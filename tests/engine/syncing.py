"""Helpers for the sync and restore tests: what a whole mailbox looks like, read from the server."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter

from imapclient import IMAPClient

from mail.imap import decode_name
from tests.corpus import corpus_messages
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.mailbox import connect

NO_MESSAGE_ID = (
    b"From: a@example.org\r\nTo: b@example.org\r\nSubject: no id here\r\n"
    b"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\nA draft without a Message-ID.\r\n"
)


def sample(step: int = 40, limit: int | None = None):
    """A spread of the corpus (every `step`th message, none of the very large ones)."""
    chosen = [m for m in corpus_messages()[::step] if not m.has("large")]
    return chosen[:limit] if limit else chosen


def mailbox(dovecot: Dovecot, user: MailUser) -> dict[str, Counter]:
    """Display name -> multiset of (sha256 of BODY[], flags, internal date) of every message.

    What the server serves is compared, never the file that was appended (DESIGN.md)."""
    client = connect(dovecot, user)
    try:
        return {
            decode_name(raw): _folder(client, raw)
            for flags, _delim, raw in client.list_folders()
            if b"\\Noselect" not in flags
        }
    finally:
        client.logout()


def _folder(client: IMAPClient, raw: str) -> Counter:
    client.select_folder(raw, readonly=True)
    uids = client.search("ALL")
    found = client.fetch(uids, ["BODY.PEEK[]", "FLAGS", "INTERNALDATE"]) if uids else {}
    return Counter(
        (
            hashlib.sha256(d[b"BODY[]"]).hexdigest(),
            tuple(sorted(f.decode() for f in d[b"FLAGS"] if f != b"\\Recent")),
            d[b"INTERNALDATE"].astimezone(dt.UTC).isoformat(),
        )
        for d in found.values()
    )


def count(dovecot: Dovecot, user: MailUser, folder: str) -> int:
    client = connect(dovecot, user)
    try:
        return client.folder_status(folder, ["MESSAGES"])[b"MESSAGES"]
    finally:
        client.logout()
