"""imaplib, IMAPClient and poplib classes that open their socket through the outbound policy
and report a bad greeting.

Overriding `_create_socket` (and imaplib's `_connect`, `_get_line`) is the seam these libraries
offer for a socket of our own: the one place the mail package reaches into them to connect.
"""

from __future__ import annotations

import imaplib
import poplib
import socket
from contextlib import suppress

from imapclient import IMAPClient

from mail.outbound import Target, open_socket


class BadGreeting(Exception):
    def __init__(self, greeting: bytes):
        super().__init__("bad greeting")
        self.greeting = greeting


class GuardedIMAP4(imaplib.IMAP4):
    def __init__(self, target: Target):
        self._target = target
        self.greeting = b""
        super().__init__(target.host, target.port, timeout=target.timeout)

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        return open_socket(self._target)

    def _get_line(self) -> bytes:
        line = super()._get_line()
        if not self.greeting:
            self.greeting = line or b" "
        return line

    def _connect(self) -> None:
        try:
            super()._connect()
        except imaplib.IMAP4.error:
            raise BadGreeting(self.greeting) from None


class GuardedIMAPClient(IMAPClient):
    def __init__(self, target: Target):
        self._target = target
        super().__init__(
            target.host,
            target.port,
            ssl=target.security == "ssl",
            ssl_context=target.tls,
            timeout=target.timeout,
        )

    def _create_IMAP4(self) -> imaplib.IMAP4:
        return GuardedIMAP4(self._target)


class GuardedPOP3(poplib.POP3):
    def __init__(self, target: Target):
        self._target = target
        try:
            super().__init__(target.host, target.port, timeout=target.timeout)
        except poplib.error_proto as exc:
            self._drop()
            raise BadGreeting(as_bytes(exc.args[0] if exc.args else b"")) from None

    def _create_socket(self, timeout: float | None) -> socket.socket:
        return open_socket(self._target)

    def _drop(self) -> None:
        with suppress(Exception):
            self.close()


class GuardedPOP3SSL(poplib.POP3_SSL):
    def __init__(self, target: Target):
        self._target = target
        try:
            super().__init__(target.host, target.port, timeout=target.timeout, context=target.tls)
        except poplib.error_proto as exc:
            with suppress(Exception):
                self.close()
            raise BadGreeting(as_bytes(exc.args[0] if exc.args else b"")) from None

    def _create_socket(self, timeout: float | None) -> socket.socket:
        return open_socket(self._target)  # wraps TLS itself (security is "ssl")


def as_bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode("utf-8", "replace")
