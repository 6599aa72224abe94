"""Seed real mailboxes on the test Dovecot with corpus messages over IMAP APPEND."""

from __future__ import annotations

import datetime as dt
import itertools
import ssl
from collections.abc import Iterable
from dataclasses import dataclass

from imapclient import IMAPClient

from tests.corpus import CorpusMessage
from tests.servers.dovecot import Dovecot, MailUser

# Folder names that break naive code: non-ASCII, "&" (modified UTF-7's escape), spaces, dots,
# deep hierarchy, and a special-use folder.
SEED_FOLDERS = (
    "INBOX",
    "Ünïcode Ordner",
    "R&D",
    "Team Space",
    "lists.linux.clk",
    "Projects/2026/Q4/Deep Dive",
    "Archive",
)
FLAG_CYCLE = ((), (b"\\Seen",), (b"\\Seen", b"\\Flagged"), (b"\\Answered",), (b"$Label1",))
BASE_DATE = dt.datetime(2024, 1, 1, 9, 30, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Seeded:
    folder: str
    uid: int
    message: CorpusMessage
    flags: tuple[bytes, ...]
    internal_date: dt.datetime


def connect(dovecot: Dovecot, user: MailUser, port: int | None = None) -> IMAPClient:
    client = IMAPClient(dovecot.host, port=port or dovecot.imap_port, ssl=False, timeout=30)
    client.login(user.username, user.password)
    return client


def tls_context_trusting(dovecot: Dovecot) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(dovecot.cert.cert_path))


def ensure_folder(client: IMAPClient, folder: str) -> None:
    if not client.folder_exists(folder):
        client.create_folder(folder)


def append(
    client: IMAPClient, folder: str, raw: bytes, flags=(), when: dt.datetime | None = None
) -> int:
    """APPEND one message and return its UID (Dovecot has UIDPLUS)."""
    response = client.append(folder, raw, flags=flags, msg_time=when or BASE_DATE)
    # b'[APPENDUID <uidvalidity> <uid>] Append completed.'
    return int(response.split(b"]")[0].split()[-1])


def seed_mailbox(
    dovecot: Dovecot,
    user: MailUser,
    messages: Iterable[CorpusMessage],
    folders: Iterable[str] = SEED_FOLDERS,
) -> list[Seeded]:
    """Spread messages round-robin over folders with varied flags and internal dates."""
    folders = tuple(folders)
    seeded: list[Seeded] = []
    client = connect(dovecot, user)
    try:
        for folder in folders:
            ensure_folder(client, folder)
        for i, (message, folder, flags) in enumerate(
            zip(messages, itertools.cycle(folders), itertools.cycle(FLAG_CYCLE))
        ):
            when = BASE_DATE + dt.timedelta(hours=i)
            uid = append(client, folder, message.read(), flags, when)
            seeded.append(Seeded(folder, uid, message, flags, when))
    finally:
        client.logout()
    return seeded


def fetch_raw(client: IMAPClient, folder: str, uid: int) -> bytes:
    """The exact bytes the server serves for BODY[] (read-only)."""
    client.select_folder(folder, readonly=True)
    return client.fetch([uid], [b"BODY.PEEK[]"])[uid][b"BODY[]"]
