"""Errors the engine raises, sorted by what a caller should do about them.

Every message is one clear sentence for an admin, and never contains a secret.
"""

from __future__ import annotations


class EngineError(Exception):
    """Base class: `str(error)` is the sentence shown to the admin."""


class PermanentError(EngineError):
    """Retrying will not help until someone changes something (password, host, certificate)."""


class TransientError(EngineError):
    """The network or the server hiccuped: retry with backoff."""


# Connection test outcomes, one class per cause (accounts issue).
class NameNotResolved(PermanentError): ...


class ConnectionRefused(TransientError): ...


class ConnectionTimedOut(TransientError): ...


class CertificateNotTrusted(PermanentError):
    def __init__(self, message: str, fingerprint: str):
        super().__init__(message)
        self.fingerprint = fingerprint  # SHA-256 hex of the server's certificate, to offer pinning


class TLSHandshakeFailed(PermanentError): ...


class AuthenticationFailed(PermanentError): ...


class WrongProtocol(PermanentError):
    """The port answered, but speaks the other protocol (POP3 on an IMAP port, or the reverse)."""


class UnexpectedReply(PermanentError): ...


class ConnectionDropped(TransientError):
    """An established connection broke mid-session."""


# Added by the accounts issue: causes found before any byte reaches the server.
class HostNotAllowed(PermanentError):
    """The host resolves only to internal addresses and ALLOW_INTERNAL_HOSTS is off."""


class SecretUnavailable(PermanentError):
    """The account has no stored password, or it cannot be decrypted with the configured keys."""


# Added by the OAuth2 issue.
class ReauthorizationNeeded(AuthenticationFailed):
    """OAuth2: the provider refused the refresh token (revoked or expired); sign in again."""
