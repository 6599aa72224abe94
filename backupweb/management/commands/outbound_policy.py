"""`manage.py outbound_policy [HOST ...]`: say which internal hosts the server may connect to,
and whether each HOST given is allowed (what it resolves to, checked like a real connection).

`make run` prints the first line at start, so a laptop install says that loopback is allowed.
"""

from __future__ import annotations

import socket

from django.conf import settings
from django.core.management.base import BaseCommand

from mail import outbound


class Command(BaseCommand):
    help = "Show the outbound-connection policy, and check hosts against it."

    def add_arguments(self, parser) -> None:
        parser.add_argument("hosts", nargs="*", metavar="HOST")

    def handle(self, *args, hosts: list[str], **options) -> None:
        self.stdout.write(f"Outbound connections: {describe()}")
        for host in hosts:
            try:
                addresses = sorted({i[4][0] for i in socket.getaddrinfo(host, None)})
            except OSError as exc:
                self.stdout.write(f"{host}: does not resolve ({exc})")
                continue
            verdict = [
                f"{a} {'allowed' if outbound.allowed(a, host) else 'refused'}" for a in addresses
            ]
            self.stdout.write(f"{host}: {', '.join(verdict)}")


def verdict(address: str, host: str) -> str:
    return "allowed" if outbound.allowed(address, host) else "refused"


def describe() -> str:
    if settings.ALLOW_INTERNAL_HOSTS:
        return "every internal host is allowed (ALLOW_INTERNAL_HOSTS=true)."
    listed = ", ".join(settings.ALLOWED_INTERNAL_HOSTS) or "none"
    return f"public hosts, and these internal ones: {listed} (ALLOWED_INTERNAL_HOSTS)."
