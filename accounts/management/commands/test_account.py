"""Run an account's connection test and print what the account page would show."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts import services
from accounts.models import Account
from mail.probe import ConnectionReport


class Command(BaseCommand):
    help = "Test an account's connection: log in, list folders and counts, show capabilities."

    def add_arguments(self, parser) -> None:
        parser.add_argument("name", help="the account's name")

    def handle(self, *args, name: str, **options) -> None:
        account = Account.objects.active().filter(name=name).first()
        if account is None:
            raise CommandError(f"No account named {name!r}.")
        report = services.run_test(account)
        if not report.ok:
            if report.fingerprint:
                self.stdout.write(f"Certificate SHA-256: {report.fingerprint}")
            raise CommandError(report.error)
        for line in describe(report):
            self.stdout.write(line)


def describe(report: ConnectionReport) -> list[str]:
    lines = [f"OK: logged in to {report.host}:{report.port} in {report.elapsed:.1f} s."]
    if report.protocol == "pop3":
        lines.append(f"{report.message_count} message(s), {report.mailbox_bytes} bytes.")
    else:
        lines += [f"  {f.name}: {_count(f.messages)}" for f in report.folders]
        lines.append(f"{len(report.folders)} folder(s), {report.total_messages} message(s).")
        notable = [f"{name}{'' if ok else ' (no)'}" for name, ok in report.notable_capabilities]
        lines.append(f"Capabilities: {' '.join(notable)}")
    if report.capabilities and report.protocol == "pop3":
        lines.append(f"Capabilities: {' '.join(report.capabilities)}")
    if report.tls_fingerprint:
        lines.append(f"Certificate SHA-256: {report.tls_fingerprint}")
    return lines


def _count(messages: int | None) -> str:
    return "not selectable" if messages is None else f"{messages} message(s)"
