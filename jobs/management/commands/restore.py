"""`manage.py restore ACCOUNT --to DESTINATION [--folder NAME ...] [--into PREFIX] [--dry-run]`:
put archived messages of ACCOUNT (deleted-on-server ones too) into an IMAP account.

Nothing is restored twice into the same folder, so running it again only adds what is missing.
Exit status 0 when every selected message is on the destination, 1 otherwise.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from jobs import kinds
from jobs.cli import add_run_arguments, dry_run, find_account, print_report, run_command
from jobs.models import Job


class Command(BaseCommand):
    help = "Restore archived messages of an account into any IMAP account, in the foreground."
    # The system checks import every URL and view first: a third of this command's start-up,
    # spent on nothing it uses (the web process and `manage.py check` still run them).
    requires_system_checks: list[str] = []

    def add_arguments(self, parser) -> None:
        parser.add_argument("account", help="archived account id or exact name")
        parser.add_argument("--to", required=True, dest="destination", help="destination account")
        add_run_arguments(parser, Job.Kind.RESTORE)
        parser.add_argument("--dry-run", action="store_true")

    def handle(self, *args, account: str, destination: str, **opts) -> None:
        src, dst = find_account(account), find_account(destination)
        if opts["dry_run"]:  # nothing changes, so no run is recorded
            options = kinds.KINDS[Job.Kind.RESTORE].options_from_args(opts)
            print_report(self, dry_run(Job.Kind.RESTORE, src, dst, options))
            return
        _run, report = run_command(self, Job.Kind.RESTORE, src, opts, destination=dst)
        print_report(self, report)
        if report.state != "succeeded":
            raise SystemExit(1)
