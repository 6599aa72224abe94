"""Outbound connections: the one place the server opens a socket to a host an admin or user named.

The internal-address policy is checked on the address actually connected to (not on a name that
could resolve differently a second later), and the whole attempt ends within one deadline even
when DNS, the handshake or the server stall.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from contextlib import suppress
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


def open_socket(target: Target) -> socket.socket:
    """Connect to the first allowed address of the host, then wrap TLS for implicit TLS."""
    refused: list[str] = []
    last_error: OSError | None = None
    for family, kind, proto, _name, sockaddr in resolve(target):
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
