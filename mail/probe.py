"""The connection test: connect, log in, list folders with counts (the account form, the
account page and `manage.py test_account`)."""

from __future__ import annotations

import poplib
import ssl
import time
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from mail import errors
from mail.connect import (
    MailAccount,
    connect,
    default_timeout,
    open_imap,
    open_pop3,
    target_for,
    translated,
)
from mail.outbound import Deadline
from mail.tls import fingerprint_of

NOTABLE_CAPABILITIES = (
    "IDLE", "CONDSTORE", "QRESYNC", "UIDPLUS", "MOVE", "SPECIAL-USE", "COMPRESS",
)  # fmt: skip


@dataclass
class FolderCount:
    name: str
    messages: int | None  # None: the folder cannot be selected (\Noselect)
    special_use: str = ""


@dataclass
class ConnectionReport:
    protocol: str
    host: str
    port: int
    security: str
    ok: bool = False
    error: str = ""  # one sentence for the admin
    error_kind: str = ""  # the errors class name, e.g. "CertificateNotTrusted"
    fingerprint: str = ""  # the certificate's SHA-256 when it was not trusted
    folders: list[FolderCount] = field(default_factory=list)
    message_count: int | None = None  # POP3
    mailbox_bytes: int | None = None  # POP3
    capabilities: list[str] = field(default_factory=list)
    tls_fingerprint: str = ""  # certificate seen on a successful TLS connection
    auth_mechanism: str = ""  # LOGIN, USER/PASS, XOAUTH2 or OAUTHBEARER
    elapsed: float = 0.0

    @property
    def notable_capabilities(self) -> list[tuple[str, bool]]:
        """The capabilities the backup cares about, each with whether the server has it."""
        names = {c.upper().split("=")[0] for c in self.capabilities}
        return [(name, name in names) for name in NOTABLE_CAPABILITIES]

    @property
    def total_messages(self) -> int:
        if self.message_count is not None:
            return self.message_count
        return sum(f.messages or 0 for f in self.folders)

    def fail(self, exc: errors.EngineError) -> None:
        self.ok = False
        self.error = str(exc)
        self.error_kind = type(exc).__name__
        self.fingerprint = getattr(exc, "fingerprint", "")


SPECIAL_USE = (b"\\Sent", b"\\Drafts", b"\\Trash", b"\\Junk", b"\\Archive", b"\\All", b"\\Flagged")


def _inspect_imap(client: IMAPClient, report: ConnectionReport) -> None:
    report.capabilities = sorted(c.decode("ascii", "replace") for c in client.capabilities())
    for flags, _delimiter, name in client.list_folders():
        special = next((f.decode()[1:] for f in flags if f in SPECIAL_USE), "")
        if b"\\Noselect" in flags or b"\\NonExistent" in flags:
            report.folders.append(FolderCount(str(name), None, special))
            continue
        status = client.folder_status(name, [b"MESSAGES"])
        report.folders.append(FolderCount(str(name), int(status[b"MESSAGES"]), special))
    report.folders.sort(key=lambda folder: folder.name.upper() != "INBOX")  # INBOX first


def _inspect_pop3(client: poplib.POP3, report: ConnectionReport) -> None:
    with suppress(poplib.error_proto):
        report.capabilities = sorted(client.capa())
    report.message_count, report.mailbox_bytes = client.stat()


def test_connection(account: MailAccount, timeout: float | None = None) -> ConnectionReport:
    """Connect, log in, list folders with counts (IMAP) or the message count (POP3).

    The whole test, listing included, ends within `timeout` (settings.CONNECTION_TIMEOUT);
    what was listed before a failure stays in the report.
    """
    seconds = default_timeout(timeout)
    report = ConnectionReport(account.protocol, account.host, int(account.port), account.security)
    imap = account.protocol != "pop3"
    opener, inspect = (open_imap, _inspect_imap) if imap else (open_pop3, _inspect_pop3)
    deadline, started = Deadline(seconds), time.monotonic()
    try:
        client = connect(account, seconds, opener, deadline)
        report.tls_fingerprint = _seen_fingerprint(client)
        report.auth_mechanism = getattr(client, "auth_mechanism", "")
        target = target_for(account, seconds, deadline)
        target.connected = True
        try:
            with translated(target, account.protocol, ""):
                inspect(client, report)
        finally:
            _goodbye(client)
        report.ok = True
    except errors.EngineError as exc:
        report.fail(exc)
    finally:
        deadline.cancel()
        report.elapsed = time.monotonic() - started
    return report


test_connection.__test__ = False  # not a pytest test, though its name starts with test_


def _seen_fingerprint(client: Any) -> str:
    sock = client.socket() if isinstance(client, IMAPClient) else client.sock
    if isinstance(sock, ssl.SSLSocket):
        return fingerprint_of(sock.getpeercert(binary_form=True) or b"")
    return ""


def _goodbye(client: Any) -> None:
    with suppress(Exception, IMAPClientError):
        if isinstance(client, IMAPClient):
            client.logout()
        else:
            client.quit()
