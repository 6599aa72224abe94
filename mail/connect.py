"""Connect and log in to an account's mail server: IMAP or POP3, plain, STARTTLS or TLS.

`connect_imap` and `connect_pop3` return a logged-in client for the backup engine;
`mail.probe.test_connection` builds on them. Every failure is an `errors.EngineError` whose
text is one clear sentence per cause, and never contains the password.

The account can be any object with the attributes of `accounts.Account` (an unsaved one too):
`protocol host port security username tls_verify tls_fingerprint get_secret()`, and optionally
`provider_hint`; OAuth2 accounts (`auth_method == "oauth2"`) log in with a bearer token from
`get_access_token()` instead of the password (SASL in `mail/sasl.py`).

Why the sockets are ours and not the libraries': the internal-host policy must be checked on the
address actually connected to (not on a name that could resolve differently a second later), a
pinned certificate must be checked on every TLS handshake (implicit TLS or STARTTLS alike), and
the whole attempt must end within one timeout even when DNS, the handshake or the server stall.
"""

from __future__ import annotations

import imaplib
import poplib
import socket
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from django.conf import settings
from imapclient import IMAPClient
from imapclient.exceptions import CapabilityError, LoginError

from mail import errors, sasl
from mail.account import MailAccount
from mail.clients import BadGreeting, GuardedIMAPClient, GuardedPOP3, GuardedPOP3SSL, as_bytes
from mail.outbound import Deadline, Target
from mail.tls import Captured, tls_context

# ---------------------------------------------------------------------------------------------
# Turning library exceptions into one clear sentence


def _server_text(value: Any, password: str) -> str:
    """A short, printable, password-free rendering of what the server said."""
    if isinstance(value, list | tuple):
        value = b" ".join(as_bytes(v) for v in value if v is not None)
    text = as_bytes(value if value is not None else b"").decode("utf-8", "replace")
    text = " ".join(text.split())
    # imapclient's LoginError carries str(bytes): "b'[AUTHENTICATIONFAILED] ...'".
    if len(text) > 2 and text[0] == "b" and text[1] in "'\"" and text[-1] == text[1]:
        text = text[2:-1]
    if password:
        text = text.replace(password, "***")
    return text[:200] + ("…" if len(text) > 200 else "")


def _greeting_error(target: Target, protocol: str, greeting: bytes) -> errors.EngineError:
    text = greeting.strip()
    where = target.label
    if not text or text == b"-ERR EOF":
        return errors.ConnectionDropped(f"{where} closed the connection without a greeting.")
    if protocol == "imap" and text.startswith(b"+OK"):
        return errors.WrongProtocol(
            f"{where} speaks POP3, not IMAP: choose POP3, or the server's IMAP port "
            "(usually 993 or 143)."
        )
    if protocol == "pop3" and text.startswith((b"* OK", b"* PREAUTH", b"* BYE")):
        return errors.WrongProtocol(
            f"{where} speaks IMAP, not POP3: choose IMAP, or the server's POP3 port "
            "(usually 995 or 110)."
        )
    return errors.UnexpectedReply(
        f"{where} returned an unexpected reply instead of a {protocol.upper()} greeting: "
        f"{_server_text(text, '')!r}."
    )


def _translate(exc: BaseException, target: Target, protocol: str, password: str):
    where = target.label
    seconds = f"{target.timeout:g} second{'' if target.timeout == 1 else 's'}"
    if target.deadline.expired or isinstance(exc, TimeoutError):
        if target.connected:
            return errors.ConnectionTimedOut(
                f"{where} accepted the connection but did not finish answering within {seconds}."
            )
        return errors.ConnectionTimedOut(f"{where} did not answer within {seconds}.")
    if isinstance(exc, socket.gaierror):
        return errors.NameNotResolved(
            f"The server name {target.host} does not resolve ({exc.strerror}); check its spelling."
        )
    if isinstance(exc, ConnectionRefusedError):
        return errors.ConnectionRefused(
            f"{where} refused the connection: nothing listens on that port, "
            "or a firewall rejects it."
        )
    if isinstance(exc, BadGreeting):
        return _greeting_error(target, protocol, exc.greeting)
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or exc.__class__.__name__
        return errors.TLSHandshakeFailed(
            f"The TLS handshake with {where} failed ({reason}); check that the security "
            "setting (implicit TLS or STARTTLS) matches the port."
        )
    if isinstance(exc, imaplib.IMAP4.abort | EOFError | ConnectionError):
        return errors.ConnectionDropped(f"{where} closed the connection unexpectedly.")
    if isinstance(exc, OSError) and not isinstance(exc, ssl.SSLError):
        return errors.ConnectionRefused(f"{where} cannot be reached ({exc.strerror or exc}).")
    detail = _server_text(exc.args[0] if exc.args else "", password)
    return errors.UnexpectedReply(f"{where} returned an unexpected reply: {detail!r}.")


@contextmanager
def translated(target: Target, protocol: str, password: str) -> Iterator[None]:
    try:
        yield
    except errors.EngineError:
        raise
    except Exception as exc:
        raise _translate(exc, target, protocol, password) from None


def _auth_failed(account: MailAccount, target: Target, reply: Any, password: str):
    said = _server_text(reply, password)
    hint = getattr(account, "provider_hint", "") or ""
    what = "OAuth2 access token" if sasl.uses_oauth(account) else "username or password"
    message = (
        f"Authentication failed for {account.username} on {target.label}: the server rejected "
        f"the {what}{f' ({said})' if said else ''}."
    )
    return errors.AuthenticationFailed(f"{message} {hint}".strip())


# ---------------------------------------------------------------------------------------------
# Opening a session


def _scrubbing(log: Callable[[str], Any], password: str) -> Callable[[str], Any]:
    """imaplib's debug lines, with the password removed even where imapclient misses it."""

    def scrubbed(message: Any) -> Any:
        text = message.decode("ascii", "replace") if isinstance(message, bytes) else str(message)
        return log(text.replace(password, "***") if password else text)

    return scrubbed


def open_imap(target: Target, account: MailAccount, password: str) -> IMAPClient:
    client = GuardedIMAPClient(target)
    client._imap._mesg = _scrubbing(client._imap._mesg, password)
    try:
        if target.security == "starttls":
            try:
                client.starttls(target.tls)
            except CapabilityError:
                raise errors.TLSHandshakeFailed(
                    f"{target.label} does not offer STARTTLS; choose implicit TLS (usually port "
                    "993) or, only on a trusted network, no encryption."
                ) from None
        try:
            if sasl.uses_oauth(account):
                client.auth_mechanism = sasl.imap_login(
                    client, account, password, target.host, target.port
                )
            else:
                client.login(account.username, password)
                client.auth_mechanism = "LOGIN"
        except LoginError as exc:
            raise _auth_failed(account, target, exc.args[0] if exc.args else "", password) from None
    except BaseException:
        _close_imap(client)
        raise
    return client


def open_pop3(target: Target, account: MailAccount, password: str) -> poplib.POP3:
    client = GuardedPOP3SSL(target) if target.security == "ssl" else GuardedPOP3(target)
    try:
        if target.security == "starttls":
            if "STLS" not in client.capa():
                raise errors.TLSHandshakeFailed(
                    f"{target.label} does not offer STARTTLS (STLS); choose implicit TLS "
                    "(usually port 995) or, only on a trusted network, no encryption."
                )
            client.stls(target.tls)
        try:
            if sasl.uses_oauth(account):
                client.auth_mechanism = sasl.pop3_login(
                    client, account, password, target.host, target.port
                )
            else:
                client.user(account.username)
                client.pass_(password)
                client.auth_mechanism = "USER/PASS"
        except poplib.error_proto as exc:
            raise _auth_failed(account, target, exc.args[0] if exc.args else "", password) from None
    except BaseException:
        with suppress(Exception):
            client.close()
        raise
    return client


def _close_imap(client: IMAPClient) -> None:
    with suppress(Exception):
        client.shutdown()


Opener = Callable[[Target, MailAccount, str], Any]


def default_timeout(timeout: float | None) -> float:
    return float(timeout if timeout is not None else settings.CONNECTION_TIMEOUT)


def target_for(account: MailAccount, timeout: float, deadline: Deadline, capture: bool = False):
    label = f"{account.host}:{account.port}"
    return Target(
        host=account.host.strip(),
        port=int(account.port),
        security=account.security,
        timeout=timeout,
        # No TLS context for plain connections: loading the system's CA certificates costs
        # tens of milliseconds per connection.
        tls=None if account.security == "none" else tls_context(account, label, capture=capture),
        deadline=deadline,
    )


def _password(account: MailAccount) -> str:
    if sasl.uses_oauth(account):
        return sasl.bearer_token(account)
    try:
        return account.get_secret()
    except Exception as exc:  # accounts.secrets.SecretError; its text holds no secret
        raise errors.SecretUnavailable(str(exc)) from None


def connect(account: MailAccount, timeout: float, opener: Opener, deadline: Deadline) -> Any:
    password = _password(account)
    try:
        return _connect_once(account, timeout, opener, deadline, password)
    except errors.AuthenticationFailed:
        if not sasl.uses_oauth(account):
            raise
        # The token may have expired early or been revoked: refresh it once, then fail for good.
        token = sasl.bearer_token(account, failed=password)
        return _connect_once(account, timeout, opener, deadline, token)


def _connect_once(account, timeout: float, opener: Opener, deadline: Deadline, password: str):
    target = target_for(account, timeout, deadline)
    with translated(target, account.protocol, password):
        try:
            return opener(target, account, password)
        except ssl.SSLCertVerificationError as exc:
            raise _untrusted(exc, account, opener, deadline) from None


def _untrusted(exc: ssl.SSLCertVerificationError, account, opener, deadline) -> Exception:
    """The certificate failed verification: connect once more, only to read its fingerprint."""
    capture = target_for(account, deadline.seconds, deadline, capture=True)
    with suppress(Exception, Captured):
        opener(capture, account, "")
    reason = exc.verify_message or exc.reason or "verification failed"
    return errors.CertificateNotTrusted(
        f"The TLS certificate of {capture.label} is not trusted ({reason}); for your own server "
        "with a self-signed certificate, pin its SHA-256 fingerprint to trust exactly it.",
        capture.tls.seen_fingerprint,
    )


def _login_phase(account: MailAccount, timeout: float | None, opener: Opener) -> Any:
    """Connect and log in within one deadline; afterwards only the per-read timeout applies."""
    seconds = default_timeout(timeout)
    deadline = Deadline(seconds)
    try:
        return connect(account, seconds, opener, deadline)
    finally:
        deadline.cancel()


def connect_imap(account: MailAccount, timeout: float | None = None) -> IMAPClient:
    """A logged-in IMAPClient (implicit TLS, STARTTLS or plain, as the account says).

    Certificates are verified against the system CAs and the host name, unless the account pins
    a SHA-256 fingerprint (then exactly that certificate is accepted) or turned verification off.
    `timeout` (default settings.CONNECTION_TIMEOUT) bounds connecting and logging in as a whole,
    and each later read. Raises `errors.EngineError` subclasses.
    """
    return _login_phase(account, timeout, open_imap)


def connect_pop3(account: MailAccount, timeout: float | None = None) -> poplib.POP3:
    """A logged-in poplib.POP3 (POP3_SSL for implicit TLS); same rules as `connect_imap`."""
    return _login_phase(account, timeout, open_pop3)
