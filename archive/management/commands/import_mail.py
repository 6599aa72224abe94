"""manage.py import_mail ACCOUNT PATH [--folder NAME]

PATH: an mbox, an .eml, a zip of .eml files or of a Maildir, a Maildir, an Apple Mail .mbox
package, or a folder of these. Same code as the import page (`archive.importer`).
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from archive import importer
from archive.management.commands.export import find_account


class Command(BaseCommand):
    help = "Import mail files (mbox, .eml, zip, Maildir, .mbox package) into an account's archive."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("account", help="account name (or id)")
        parser.add_argument("path", help="file or folder to import")
        parser.add_argument("--folder", default="", help="archive folder to import into")

    def handle(self, *args, account: str, path: str, folder: str, **options) -> None:
        source = Path(path)
        if not source.exists():
            raise CommandError(f"{source} does not exist.")
        target = find_account(account)
        report = importer.import_path(target, source, folder)
        for problem in report.problems:
            self.stderr.write(f"{problem['file']}: {problem['error']}")
        self.stdout.write(
            f"Imported {report.imported:,} messages ({report.duplicates:,} duplicates skipped, "
            f"{report.skipped:,} empty mbox entries skipped, {len(report.problems):,} problems)."
        )
        if report.problems and not report.imported:
            raise CommandError("Nothing was imported.")
