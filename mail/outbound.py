"""Outbound connections: the one policy for every host an admin or user names.

Mail servers, connection tests, notification targets (Apprise), OAuth endpoints and webhooks all
go through `allowed`: a public address always; an internal one (loopback, private, link-local...)
only with ALLOW_INTERNAL_HOSTS, or when ALLOWED_INTERNAL_HOSTS lists the host name or a network
that holds the address. The policy is checked on the address actually connected to, not on a name
that could resolve differently a second later. Mail connections open their socket here
(`open_socket`, within one deadline even when DNS, the handshake or the server stall); libraries
that connect by themselves (Apprise, urllib) run inside `guarded()`, which checks every address
they resolve, redirects included.
"""

from __future__ import annotations

import contextvars
import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from django.conf import settings

from mail import errors
from mail.tls import TLSContext


class Deadline:
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


@dataclass
class Target:
    """Where and how to connect, plus the state the error translation needs."""

    host: str
    port: int
    security: str
    timeout: float
    tls: TLSContext | None  # None for plain connections
    deadline: Deadline
    connected: bool = False

    @property
    def label(self) -> str:
        return f"{self.host}:{self.port}"


def resolve(target: Target) -> list[tuple]:
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


def allowed(address: str, host: str = "") -> bool:
    """Whether the policy lets us connect to `address` (reached by the name `host`)."""
    if settings.ALLOW_INTERNAL_HOSTS or not is_internal_address(address):
        return True
    ip = ipaddress.ip_address(address.split("%")[0])
    for entry in settings.ALLOWED_INTERNAL_HOSTS:
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:  # a host name: allowed as typed, whatever it resolves to
            if host and entry.lower().rstrip(".") == host.lower().rstrip("."):
                return True
    return False


def not_allowed(host: str) -> errors.HostNotAllowed:
    """The one answer for a refused host, whatever the port or protocol: it tells nothing of
    what listens there, or of what the name resolves to."""
    return errors.HostNotAllowed(
        f"{host} is not allowed: it is an internal address, and this installation only connects "
        "to internal hosts listed in ALLOWED_INTERNAL_HOSTS (or all, with ALLOW_INTERNAL_HOSTS)."
    )


def open_socket(target: Target) -> socket.socket:
    """Connect to the first allowed address of the host, then wrap TLS for implicit TLS."""
    refused: list[str] = []
    last_error: OSError | None = None
    for family, kind, proto, _name, sockaddr in resolve(target):
        # The policy is checked on the very address we connect to (no second lookup).
        if not allowed(sockaddr[0], target.host):
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
    raise not_allowed(target.host)


# -- libraries that connect by themselves ------------------------------------------------------

# A context variable rather than a thread-local: libraries that hand the work to a pool (Apprise
# does) copy the caller's context into it, so the guard follows the work.
_guarded: contextvars.ContextVar[bool] = contextvars.ContextVar("outbound_guarded", default=False)
_real_getaddrinfo = socket.getaddrinfo


class Refused(OSError):
    """A library asked for a host the policy refuses (an OSError, so it fails like a network
    error inside the library, and says why)."""


def _policed_getaddrinfo(host, port, *args, **kwargs):
    found = _real_getaddrinfo(host, port, *args, **kwargs)
    if not _guarded.get():
        return found
    name = host.decode() if isinstance(host, bytes) else str(host or "")
    kept = [info for info in found if allowed(info[4][0], name)]
    if not kept:
        raise Refused(str(not_allowed(name)))
    return kept


@contextmanager
def guarded() -> Iterator[None]:
    """Every name resolved meanwhile (by this thread, or by work it hands to a pool with its
    context) is held to the policy: the addresses it refuses are never returned, so the library
    cannot connect to them, a redirect included.

    Installed once, process-wide, as a wrapper of socket.getaddrinfo that does nothing outside
    `guarded()`: libraries resolve through it and offer no other seam to check the address they
    are about to connect to.
    """
    if socket.getaddrinfo is not _policed_getaddrinfo:
        socket.getaddrinfo = _policed_getaddrinfo
    token = _guarded.set(True)
    try:
        yield
    finally:
        _guarded.reset(token)


def check_host(host: str, port: int | None = None) -> None:
    """Raise HostNotAllowed unless `host` resolves to at least one address the policy allows
    (before handing a URL to a library, for a clear error instead of a network failure)."""
    try:
        found = _real_getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    except OSError:
        return  # unknown names fail later, with the library's own "cannot be reached"
    if not any(allowed(info[4][0], host) for info in found):
        raise not_allowed(host)
