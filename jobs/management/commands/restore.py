"""`manage.py restore ACCOUNT --to DESTINATION [--folder NAME ...] [--into PREFIX] [--dry-run]`:
put archived messages of ACCOUNT (deleted-on-server ones too) into an IMAP account.

Nothing is restored twice into the same folder, so running it again only adds what is missing.
Exit status 0 when every selected message is on the destination, 1 otherwise.
"""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand

from jobs.engine.errors import EngineError
from jobs.engine.restore import RestoreOptions, restore_messages
from jobs.management.commands.backup import BarDisplay, LineDisplay
from jobs.management.commands.sync import find_account, print_report


class Command(BaseCommand):
    help = "Restore archived messages of an account into any IMAP account, in the foreground."
    # The system checks import every URL and view first: a third of this command's start-up,
    # spent on nothing it uses (the web process and `manage.py check` still run them).
    requires_system_checks: list[str] = []

    def add_arguments(self, parser) -> None:
        parser.add_argument("account", help="archived account id or exact name")
        parser.add_argument("--to", required=True, dest="destination", help="destination account")
        parser.add_argument("--folder", action="append", dest="folders", metavar="NAME")
        parser.add_argument("--message", action="append", type=int, dest="messages", metavar="ID")
        parser.add_argument(
            "--into", default="", metavar="PREFIX", help="e.g. 'Restored 2026-11-21'"
        )
        parser.add_argument("--skip-deleted", action="store_true", help="leave out messages "
                            "deleted on the server")  # fmt: skip
        parser.add_argument("--dry-run", action="store_true")

    def handle(self, *args, account: str, destination: str, **opts) -> None:
        src, dst = find_account(account), find_account(destination)
        options = RestoreOptions(
            folders=opts["folders"] or None,
            message_ids=opts["messages"] or None,
            into=opts["into"].strip("/"),
            include_deleted=not opts["skip_deleted"],
            dry_run=opts["dry_run"],
        )
        display = BarDisplay(self.stdout) if self.stdout.isatty() else LineDisplay(self.stdout)
        try:
            report = restore_messages(src, dst, options, progress=display.update, log=display.log)
        except EngineError as exc:
            display.close()
            self.stderr.write(f"Restore of {src.name} into {dst.name} failed: {exc}")
            sys.exit(1)
        display.close()
        print_report(self, report)
        if report.state != "succeeded":
            sys.exit(1)
