"""`manage.py backup ACCOUNT [--folder NAME ...] [--wait]`: back up one account in the foreground.

The run is recorded like any other (history, per-folder progress, audit, the account's lease):
a backup of an account that another run is working on says which run and exits 1, or waits for
it with --wait. A progress bar per folder on a terminal, plain lines otherwise (logs, cron).
Exit status 0 when the backup succeeded, 1 otherwise, with the reason printed. A possible mass
deletion on the server prints a warning line and still exits 0: the backup itself worked.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from jobs.cli import add_run_arguments, find_account, run_command
from jobs.models import Job


class Command(BaseCommand):
    help = "Back up one mail account (by id or name) into the archive, in the foreground."
    # The system checks import every URL and view first: a third of this command's start-up,
    # spent on nothing it uses (the web process and `manage.py check` still run them).
    requires_system_checks: list[str] = []

    def add_arguments(self, parser) -> None:
        parser.add_argument("account", help="account id or exact name")
        add_run_arguments(parser, Job.Kind.BACKUP)

    def handle(self, *args, account: str, **options) -> None:
        found = find_account(account)
        run, report = run_command(self, Job.Kind.BACKUP, found, options)
        for folder in report.folders:
            if folder.state == "failed":
                self.stderr.write(f"  {folder.folder}: {folder.error}")
            elif folder.parked:
                self.stderr.write(f"  {folder.folder}: parked UIDs {folder.parked_uids}")
        self.stdout.write(
            f"Backup of {found.name} {report.state}: {report.summary()} (run #{run.pk})"
        )
        if report.warning:  # the backup itself worked: a warning, exit status 0
            self.stderr.write(f"Warning: {report.warning} (run #{run.pk})")
        if report.state != "succeeded":
            self.stderr.write(f"Reason: {report.error or report.summary()}")
            raise SystemExit(1)
