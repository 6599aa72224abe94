"""`manage.py sync SOURCE DESTINATION [--dry-run] [--folder NAME ...]`: copy one IMAP account into
another in the foreground (the same engine as sync jobs, sharing their UID map).

Progress per folder, then one verification line per folder and the summary. Exit status 0 when
every selected message of the source is on the destination, 1 otherwise. Killed mid-run, it
resumes on the next call without copying anything twice.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Account
from jobs import kinds
from jobs.cli import add_run_arguments, dry_run, find_account, print_report, run_command
from jobs.engine.sync.preflight import preflight
from jobs.models import Job


class Command(BaseCommand):
    help = "Sync (migrate) one IMAP account into another, by id or name, in the foreground."
    # The system checks import every URL and view first: a third of this command's start-up,
    # spent on nothing it uses (the web process and `manage.py check` still run them).
    requires_system_checks: list[str] = []

    def add_arguments(self, parser) -> None:
        parser.add_argument("source", help="source account id or exact name")
        parser.add_argument("destination", help="destination account id or exact name")
        add_run_arguments(parser, Job.Kind.SYNC)
        parser.add_argument("--dry-run", action="store_true", help="list what would be copied")
        parser.add_argument("--preflight", action="store_true", help="only the pre-flight")

    def handle(self, *args, source: str, destination: str, **opts) -> None:
        src, dst = find_account(source), find_account(destination)
        if opts["preflight"] or opts["dry_run"]:
            return self.plan_only(src, dst, opts)
        _run, report = run_command(self, Job.Kind.SYNC, src, opts, destination=dst)
        print_report(self, report)
        if report.state != "succeeded":
            raise SystemExit(1)

    def plan_only(self, src: Account, dst: Account, opts: dict) -> None:
        """A dry run or the pre-flight: nothing changes, so no run is recorded."""
        try:
            options = kinds.KINDS[Job.Kind.SYNC].options_from_args(opts)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if opts["dry_run"]:
            print_report(self, dry_run(Job.Kind.SYNC, src, dst, options))
            return
        self.preflight(src, dst, kinds.sync_options(options))

    def preflight(self, src: Account, dst: Account, options) -> None:
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
            raise SystemExit(1)
