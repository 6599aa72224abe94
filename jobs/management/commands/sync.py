"""`manage.py sync SOURCE DESTINATION [--dry-run] [--folder NAME ...]`: copy one IMAP account into
another in the foreground (the same engine as sync jobs, sharing their UID map).

Progress per folder, then one verification line per folder and the summary. Exit status 0 when
every selected message of the source is on the destination, 1 otherwise. Killed mid-run, it
resumes on the next call without copying anything twice.
"""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Account
from jobs.engine.errors import EngineError
from jobs.engine.mapping import parse_rules
from jobs.engine.preflight import preflight
from jobs.engine.sync import SyncOptions, sync_accounts
from jobs.management.commands.backup import BarDisplay, LineDisplay


def find_account(value: str) -> Account:
    found = Account.objects.filter(name=value).first()
    if found is None and value.isdigit():
        found = Account.objects.filter(pk=int(value)).first()
    if found is None:
        raise CommandError(f"No account with id or name {value!r}.")
    return found


class Command(BaseCommand):
    help = "Sync (migrate) one IMAP account into another, by id or name, in the foreground."
    # The system checks import every URL and view first: a third of this command's start-up,
    # spent on nothing it uses (the web process and `manage.py check` still run them).
    requires_system_checks: list[str] = []

    def add_arguments(self, parser) -> None:
        parser.add_argument("source", help="source account id or exact name")
        parser.add_argument("destination", help="destination account id or exact name")
        parser.add_argument("--dry-run", action="store_true", help="list what would be copied")
        parser.add_argument("--folder", action="append", dest="folders", metavar="NAME")
        parser.add_argument("--exclude", action="append", default=[], metavar="PATTERN")
        parser.add_argument(
            "--rule", action="append", default=[], metavar="'SOURCE -> TARGET'",
            help="a folder mapping rule, e.g. 'Projects/* -> Work/*'",
        )  # fmt: skip
        parser.add_argument("--sync-flags", action="store_true", help="carry flag changes over")
        parser.add_argument(
            "--mirror-deletions", action="store_true",
            help="delete on the destination what was deleted on the source (not a backup!)",
        )  # fmt: skip
        parser.add_argument("--no-gmail-dedupe", action="store_true")
        parser.add_argument("--preflight", action="store_true", help="only the pre-flight")
        parser.add_argument("--batch-bytes", type=int, default=None, help="bytes per body FETCH")

    def handle(self, *args, source: str, destination: str, **opts) -> None:
        src, dst = find_account(source), find_account(destination)
        try:
            rules = parse_rules("\n".join(opts["rule"]))
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        options = SyncOptions(
            folders=opts["folders"] or None,
            exclude=opts["exclude"],
            rules=rules,
            sync_flags=opts["sync_flags"],
            mirror_deletions=opts["mirror_deletions"],
            gmail_dedupe=not opts["no_gmail_dedupe"],
            dry_run=opts["dry_run"],
        )
        if opts["batch_bytes"]:
            options.batch_bytes = opts["batch_bytes"]
        if opts["preflight"]:
            return self.preflight(src, dst, options)
        display = BarDisplay(self.stdout) if self.stdout.isatty() else LineDisplay(self.stdout)
        try:
            report = sync_accounts(src, dst, options, progress=display.update, log=display.log)
        except EngineError as exc:
            display.close()
            self.stderr.write(f"Sync of {src.name} to {dst.name} failed: {exc}")
            sys.exit(1)
        display.close()
        print_report(self, report)
        if report.state != "succeeded":
            sys.exit(1)

    def preflight(self, src: Account, dst: Account, options: SyncOptions) -> None:
        report = preflight(src, dst, options)
        for side in (report.source, report.destination):
            caps = " ".join(f"{name}{'' if has else '(no)'}" for name, has in side.capabilities)
            self.stdout.write(f"{side.label}: {'login OK' if side.ok else side.error} {caps}")
        for entry in report.mapping:
            target = f"not copied: {entry.skip}" if entry.skip else entry.target_name
            self.stdout.write(f"  {entry.source.name} -> {target}")
        for warning in report.warnings:
            self.stdout.write(f"Warning: {warning}")
        if not report.ok:
            sys.exit(1)


def print_report(command: BaseCommand, report) -> None:
    for folder in report.folders:
        if report.dry_run and folder.state != "skipped":
            create = " (to create)" if folder.create else ""
            line = f"{folder.to_copy} to copy into {folder.target}{create}"
        else:
            line = folder.verification()
        command.stdout.write(f"  {folder.folder}: {line}")
    command.stdout.write(report.summary())
    if report.error:
        command.stderr.write(f"Problems: {report.error}")
