"""`manage.py verify ACCOUNT [--offline] [--wait]`: test an account's backup, like a "verify" job.

Re-reads every stored message of the account and checks its hash; without --offline it also
compares every folder with the server. A recorded run like any other. Exit status 0 when
everything checks out, 1 otherwise.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from jobs.cli import add_run_arguments, find_account, run_command
from jobs.models import Job


class Command(BaseCommand):
    help = (
        "Verify an account's archive (by id or name); compare it with the server unless --offline."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser) -> None:
        parser.add_argument("account", help="account id or exact name")
        add_run_arguments(parser, Job.Kind.VERIFY)

    def handle(self, *args, account: str, **options) -> None:
        _run, report = run_command(self, Job.Kind.VERIFY, find_account(account), options)
        for check in report.folders:
            if check.state == "failed":
                self.stdout.write(f"PROBLEM {check.folder}: {check.error}")
        self.stdout.write(("OK: " if report.ok else "FAILED: ") + report.summary())
        if not report.ok:
            if report.error:
                self.stderr.write(report.error)
            raise SystemExit(1)
