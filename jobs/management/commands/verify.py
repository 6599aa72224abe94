"""`manage.py verify ACCOUNT [--offline]`: test an account's backup, like a "verify" job.

Re-reads every stored message of the account and checks its hash; without --offline it also
compares every folder with the server. Exit status 0 when everything checks out, 1 otherwise.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

import audit
from accounts.models import Account
from jobs.engine.errors import EngineError
from jobs.engine.verify import verify_account


class Command(BaseCommand):
    help = (
        "Verify an account's archive (by id or name); compare it with the server unless --offline."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("account", help="account id or exact name")
        parser.add_argument(
            "--offline", action="store_true", help="only re-read the archive, do not connect"
        )

    def handle(self, *args, account: str, offline: bool, **options) -> None:
        found = Account.objects.filter(name=account).first()
        if found is None and account.isdigit():
            found = Account.objects.filter(pk=int(account)).first()
        if found is None:
            raise CommandError(f"No account with id or name {account!r}.")
        audit.record("command line", "verify.run", found, offline=offline)
        try:
            report = verify_account(found, online=not offline, log=self.stdout.write)
        except EngineError as exc:
            raise CommandError(str(exc)) from None
        for check in report.folders:
            if check.state == "failed":
                self.stdout.write(f"PROBLEM {check.folder}: {check.error}")
        self.stdout.write(("OK: " if report.ok else "FAILED: ") + report.summary())
        if not report.ok:
            if report.error:
                self.stderr.write(report.error)
            raise SystemExit(1)
