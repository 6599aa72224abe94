"""TLS for mail connections: certificate fingerprints, pinning, and a context that remembers
what it saw."""

from __future__ import annotations

import hashlib
import socket
import ssl
from typing import Any

from mail import errors
from mail.account import MailAccount


def fingerprint_of(der: bytes) -> str:
    """SHA-256 of a DER certificate as upper-case hex pairs joined by colons (95 characters)."""
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, 64, 2))


def normalize_fingerprint(text: str) -> str:
    """Canonical form of a pasted SHA-256 fingerprint (any case, colons or spaces or none).

    Returns "" for empty input; raises ValueError for anything that is not 32 hex bytes.
    """
    hexdigits = "".join(ch for ch in (text or "") if ch not in ": \t-").upper()
    if not hexdigits:
        return ""
    if len(hexdigits) != 64 or any(ch not in "0123456789ABCDEF" for ch in hexdigits):
        raise ValueError("A SHA-256 fingerprint is 64 hexadecimal digits (colons optional).")
    return ":".join(hexdigits[i : i + 2] for i in range(0, 64, 2))


class Captured(Exception):
    """Raised by a capture-only context once it has seen the server's certificate."""


class TLSContext(ssl.SSLContext):
    """Verifies by CA and host name, or by a pinned fingerprint, and remembers what it saw."""

    pinned = ""
    capture_only = False
    label = ""
    seen_fingerprint = ""

    def wrap_socket(self, sock: socket.socket, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        tls = super().wrap_socket(sock, *args, **kwargs)
        self.seen_fingerprint = fingerprint_of(tls.getpeercert(binary_form=True) or b"")
        if self.capture_only:
            tls.close()
            raise Captured
        if self.pinned and self.seen_fingerprint != self.pinned:
            tls.close()
            raise errors.CertificateNotTrusted(
                f"The TLS certificate of {self.label} does not match the pinned fingerprint; "
                "pin the new one only if you expected the server's certificate to change.",
                self.seen_fingerprint,
            )
        return tls


def tls_context(account: MailAccount, label: str, capture: bool = False) -> TLSContext:
    context = TLSContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    pinned = normalize_fingerprint(account.tls_fingerprint or "")
    if pinned or capture or not account.tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context.load_default_certs()
    context.pinned, context.capture_only, context.label = pinned, capture, label
    return context
