"""Connect to an account's mail server, and test it: IMAP or POP3, plain, STARTTLS or TLS.

`connect_imap` and `connect_pop3` return a logged-in client for the backup engine;
`test_connection` returns a `ConnectionReport` for the account form, the account page and
`manage.py test_account`. Every failure is an `errors.EngineError` whose text is one clear
sentence per cause, and never contains the password.

The account can be any object with the attributes of `accounts.Account` (an unsaved one too):
`protocol host port security username tls_verify tls_fingerprint get_secret()`, and optionally
`provider_hint`; OAuth2 accounts (`auth_method == "oauth2"`) log in with a bearer token from
`get_access_token()` instead of the password (SASL in `oauth_login.py`).

Why the sockets are ours and not the libraries': the internal-host policy must be checked on the
address actually connected to (not on a name that could resolve differently a second later), a
pinned certificate must be checked on every TLS handshake (implicit TLS or STARTTLS alike), and
the whole attempt must end within one timeout even when DNS, the handshake or the server stall.
"""

from __future__ import annotations

import hashlib
import imaplib
import ipaddress
import poplib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.conf import settings
from imapclient import IMAPClient
from imapclient.exceptions import CapabilityError, IMAPClientError, LoginError

from jobs.engine import errors, oauth_login

NOTABLE_CAPABILITIES = (
    "IDLE", "CONDSTORE", "QRESYNC", "UIDPLUS", "MOVE", "SPECIAL-USE", "COMPRESS",
)  # fmt: skip


class MailAccount(Protocol):
    protocol: str
    host: str
    port: int
    security: str  # "ssl" (implicit TLS), "starttls" or "none"
    username: str
    tls_verify: bool
    tls_fingerprint: str

    def get_secret(self) -> str: ...


# ---------------------------------------------------------------------------------------------
# Certificate fingerprints


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


# ---------------------------------------------------------------------------------------------
# Deadline, TLS context and the socket we open ourselves


class _Deadline:
    """Bounds a whole attempt: when it passes, the connected socket is shut down.

    Socket timeouts only bound each read; a server that trickles a byte every few seconds, or a
    login that follows a slow handshake, would otherwise add up to far more than the timeout.
    """

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self.expired = False
        self._timer: threading.Timer | None = None
        self._dup: socket.socket | None = None

    def remaining(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            self.expired = True
            raise TimeoutError("deadline passed")
        return left

    def watch(self, sock: socket.socket) -> None:
        # A duplicate descriptor: TLS wrapping detaches the original socket object, but a
        # shutdown on any descriptor of the connection ends it for every reader.
        self.cancel()  # a second connection under the same deadline replaces the first
        self._dup = sock.dup()
        self._timer = threading.Timer(self.remaining(), self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _expire(self) -> None:
        self.expired = True
        if self._dup is not None:
            with suppress(OSError):
                self._dup.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._dup is not None:
            self._dup.close()
            self._dup = None


class _Captured(Exception):
    """Raised by a capture-only context once it has seen the server's certificate."""


class _TLSContext(ssl.SSLContext):
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
            raise _Captured
        if self.pinned and self.seen_fingerprint != self.pinned:
            tls.close()
            raise errors.CertificateNotTrusted(
                f"The TLS certificate of {self.label} does not match the pinned fingerprint; "
                "pin the new one only if you expected the server's certificate to change.",
                self.seen_fingerprint,
            )
        return tls


def _tls_context(account: MailAccount, label: str, capture: bool = False) -> _TLSContext:
    context = _TLSContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    pinned = normalize_fingerprint(account.tls_fingerprint or "")
    if pinned or capture or not account.tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context.load_default_certs()
    context.pinned, context.capture_only, context.label = pinned, capture, label
    return context


@dataclass
class _Target:
    """Where and how to connect, plus the state the error translation needs."""

    host: str
    port: int
    security: str
    timeout: float
    tls: _TLSContext | None  # None for plain connections
    deadline: _Deadline
    connected: bool = False

    @property
    def label(self) -> str:
        return f"{self.host}:{self.port}"


def _resolve(target: _Target) -> list[tuple]:
    """getaddrinfo within the deadline.

    It cannot be interrupted, so it runs in a daemon thread we stop waiting for. A thread per
    lookup rather than a pool: a pool created before a fork (Celery prefork, gunicorn preload)
    leaves the children with workers that do not exist.
    """
    outcome: list = []
    done = threading.Event()

    def lookup() -> None:
        try:
            outcome.append(socket.getaddrinfo(target.host, target.port, 0, socket.SOCK_STREAM))
        except OSError as exc:
            outcome.append(exc)
        done.set()

    threading.Thread(target=lookup, name="resolve", daemon=True).start()
    if not done.wait(target.deadline.remaining()):
        target.deadline.expired = True
        raise TimeoutError("name resolution timed out")
    if isinstance(outcome[0], OSError):
        raise outcome[0]
    return outcome[0]


def is_internal_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_unspecified
        or ip.is_multicast
    )


def _open_socket(target: _Target) -> socket.socket:
    """Connect to the first allowed address of the host, then wrap TLS for implicit TLS."""
    refused: list[str] = []
    last_error: OSError | None = None
    for family, kind, proto, _name, sockaddr in _resolve(target):
        # The policy is checked on the very address we connect to (no second lookup).
        if not settings.ALLOW_INTERNAL_HOSTS and is_internal_address(sockaddr[0]):
            refused.append(sockaddr[0])
            continue
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(min(target.timeout, target.deadline.remaining()))
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            last_error = exc
            continue
        target.connected = True
        target.deadline.watch(sock)
        sock.settimeout(target.timeout)
        if target.security == "ssl":
            return target.tls.wrap_socket(sock, server_hostname=target.host)
        return sock
    if last_error is not None:
        raise last_error
    raise errors.HostNotAllowed(
        f"{target.host} resolves only to internal addresses ({', '.join(sorted(set(refused)))}), "
        "and this installation does not allow internal hosts (ALLOW_INTERNAL_HOSTS)."
    )


# ---------------------------------------------------------------------------------------------
# Library classes that use our socket and report a bad greeting


class _BadGreeting(Exception):
    def __init__(self, greeting: bytes):
        super().__init__("bad greeting")
        self.greeting = greeting


class _IMAP4(imaplib.IMAP4):
    def __init__(self, target: _Target):
        self._target = target
        self.greeting = b""
        super().__init__(target.host, target.port, timeout=target.timeout)

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        return _open_socket(self._target)

    def _get_line(self) -> bytes:
        line = super()._get_line()
        if not self.greeting:
            self.greeting = line or b" "
        return line

    def _connect(self) -> None:
        try:
            super()._connect()
        except imaplib.IMAP4.error:
            raise _BadGreeting(self.greeting) from None


class _IMAPClient(IMAPClient):
    def __init__(self, target: _Target):
        self._target = target
        super().__init__(
            target.host,
            target.port,
            ssl=target.security == "ssl",
            ssl_context=target.tls,
            timeout=target.timeout,
        )

    def _create_IMAP4(self) -> imaplib.IMAP4:
        return _IMAP4(self._target)


class _POP3(poplib.POP3):
    def __init__(self, target: _Target):
        self._target = target
        try:
            super().__init__(target.host, target.port, timeout=target.timeout)
        except poplib.error_proto as exc:
            self._drop()
            raise _BadGreeting(_as_bytes(exc.args[0] if exc.args else b"")) from None

    def _create_socket(self, timeout: float | None) -> socket.socket:
        return _open_socket(self._target)

    def _drop(self) -> None:
        with suppress(Exception):
            self.close()


class _POP3SSL(poplib.POP3_SSL):
    def __init__(self, target: _Target):
        self._target = target
        try:
            super().__init__(target.host, target.port, timeout=target.timeout, context=target.tls)
        except poplib.error_proto as exc:
            with suppress(Exception):
                self.close()
            raise _BadGreeting(_as_bytes(exc.args[0] if exc.args else b"")) from None

    def _create_socket(self, timeout: float | None) -> socket.socket:
        return _open_socket(self._target)  # wraps TLS itself (security is "ssl")


def _as_bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode("utf-8", "replace")


# ---------------------------------------------------------------------------------------------
# Turning library exceptions into one clear sentence


def _server_text(value: Any, password: str) -> str:
    """A short, printable, password-free rendering of what the server said."""
    if isinstance(value, list | tuple):
        value = b" ".join(_as_bytes(v) for v in value if v is not None)
    text = _as_bytes(value if value is not None else b"").decode("utf-8", "replace")
    text = " ".join(text.split())
    # imapclient's LoginError carries str(bytes): "b'[AUTHENTICATIONFAILED] ...'".
    if len(text) > 2 and text[0] == "b" and text[1] in "'\"" and text[-1] == text[1]:
        text = text[2:-1]
    if password:
        text = text.replace(password, "***")
    return text[:200] + ("…" if len(text) > 200 else "")


def _greeting_error(target: _Target, protocol: str, greeting: bytes) -> errors.EngineError:
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


def _translate(exc: BaseException, target: _Target, protocol: str, password: str):
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
    if isinstance(exc, _BadGreeting):
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
def _translated(target: _Target, protocol: str, password: str) -> Iterator[None]:
    try:
        yield
    except errors.EngineError:
        raise
    except Exception as exc:
        raise _translate(exc, target, protocol, password) from None


def _auth_failed(account: MailAccount, target: _Target, reply: Any, password: str):
    said = _server_text(reply, password)
    hint = getattr(account, "provider_hint", "") or ""
    what = "OAuth2 access token" if oauth_login.uses_oauth(account) else "username or password"
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


def _open_imap(target: _Target, account: MailAccount, password: str) -> IMAPClient:
    client = _IMAPClient(target)
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
            if oauth_login.uses_oauth(account):
                client.auth_mechanism = oauth_login.imap_login(
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


def _open_pop3(target: _Target, account: MailAccount, password: str) -> poplib.POP3:
    client = _POP3SSL(target) if target.security == "ssl" else _POP3(target)
    try:
        if target.security == "starttls":
            if "STLS" not in client.capa():
                raise errors.TLSHandshakeFailed(
                    f"{target.label} does not offer STARTTLS (STLS); choose implicit TLS "
                    "(usually port 995) or, only on a trusted network, no encryption."
                )
            client.stls(target.tls)
        try:
            if oauth_login.uses_oauth(account):
                client.auth_mechanism = oauth_login.pop3_login(
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


Opener = Callable[[_Target, MailAccount, str], Any]


def _timeout(timeout: float | None) -> float:
    return float(timeout if timeout is not None else settings.CONNECTION_TIMEOUT)


def _target(account: MailAccount, timeout: float, deadline: _Deadline, capture: bool = False):
    label = f"{account.host}:{account.port}"
    return _Target(
        host=account.host.strip(),
        port=int(account.port),
        security=account.security,
        timeout=timeout,
        # No TLS context for plain connections: loading the system's CA certificates costs
        # tens of milliseconds per connection.
        tls=None if account.security == "none" else _tls_context(account, label, capture=capture),
        deadline=deadline,
    )


def _password(account: MailAccount) -> str:
    if oauth_login.uses_oauth(account):
        return oauth_login.bearer_token(account)
    try:
        return account.get_secret()
    except Exception as exc:  # accounts.secrets.SecretError; its text holds no secret
        raise errors.SecretUnavailable(str(exc)) from None


def _connect(account: MailAccount, timeout: float, opener: Opener, deadline: _Deadline) -> Any:
    password = _password(account)
    try:
        return _connect_once(account, timeout, opener, deadline, password)
    except errors.AuthenticationFailed:
        if not oauth_login.uses_oauth(account):
            raise
        # The token may have expired early or been revoked: refresh it once, then fail for good.
        token = oauth_login.bearer_token(account, failed=password)
        return _connect_once(account, timeout, opener, deadline, token)


def _connect_once(account, timeout: float, opener: Opener, deadline: _Deadline, password: str):
    target = _target(account, timeout, deadline)
    with _translated(target, account.protocol, password):
        try:
            return opener(target, account, password)
        except ssl.SSLCertVerificationError as exc:
            raise _untrusted(exc, account, opener, deadline) from None


def _untrusted(exc: ssl.SSLCertVerificationError, account, opener, deadline) -> Exception:
    """The certificate failed verification: connect once more, only to read its fingerprint."""
    capture = _target(account, deadline.seconds, deadline, capture=True)
    with suppress(Exception, _Captured):
        opener(capture, account, "")
    reason = exc.verify_message or exc.reason or "verification failed"
    return errors.CertificateNotTrusted(
        f"The TLS certificate of {capture.label} is not trusted ({reason}); for your own server "
        "with a self-signed certificate, pin its SHA-256 fingerprint to trust exactly it.",
        capture.tls.seen_fingerprint,
    )


def _login_phase(account: MailAccount, timeout: float | None, opener: Opener) -> Any:
    """Connect and log in within one deadline; afterwards only the per-read timeout applies."""
    seconds = _timeout(timeout)
    deadline = _Deadline(seconds)
    try:
        return _connect(account, seconds, opener, deadline)
    finally:
        deadline.cancel()


def connect_imap(account: MailAccount, timeout: float | None = None) -> IMAPClient:
    """A logged-in IMAPClient (implicit TLS, STARTTLS or plain, as the account says).

    Certificates are verified against the system CAs and the host name, unless the account pins
    a SHA-256 fingerprint (then exactly that certificate is accepted) or turned verification off.
    `timeout` (default settings.CONNECTION_TIMEOUT) bounds connecting and logging in as a whole,
    and each later read. Raises `errors.EngineError` subclasses.
    """
    return _login_phase(account, timeout, _open_imap)


def connect_pop3(account: MailAccount, timeout: float | None = None) -> poplib.POP3:
    """A logged-in poplib.POP3 (POP3_SSL for implicit TLS); same rules as `connect_imap`."""
    return _login_phase(account, timeout, _open_pop3)


# ---------------------------------------------------------------------------------------------
# The connection test


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
    seconds = _timeout(timeout)
    report = ConnectionReport(account.protocol, account.host, int(account.port), account.security)
    imap = account.protocol != "pop3"
    opener, inspect = (_open_imap, _inspect_imap) if imap else (_open_pop3, _inspect_pop3)
    deadline, started = _Deadline(seconds), time.monotonic()
    try:
        client = _connect(account, seconds, opener, deadline)
        report.tls_fingerprint = _seen_fingerprint(client)
        report.auth_mechanism = getattr(client, "auth_mechanism", "")
        target = _target(account, seconds, deadline)
        target.connected = True
        try:
            with _translated(target, account.protocol, ""):
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
