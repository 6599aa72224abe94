"""manage.py export ACCOUNT --output FILE.zip [--folder NAME ...] [--format eml|mbox]"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Account
from archive.blobstore import BlobError
from archive.export import FORMATS, ExportError, export_account


def find_account(value: str) -> Account:
    """An account by name, or by id when the value is a number and no name matches."""
    account = Account.objects.filter(name=value).first()
    if account is None and value.isdigit():
        account = Account.objects.filter(pk=int(value)).first()
    if account is None:
        raise CommandError(f"No account named {value!r}.")
    return account


class Command(BaseCommand):
    help = "Export an account's archive as a zip of .eml files (with manifest.csv) or mbox files."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("account", help="account name (or id)")
        parser.add_argument("--output", "-o", required=True, help="the .zip file to write")
        parser.add_argument(
            "--folder", action="append", dest="folders", metavar="NAME",
            help="export only this folder (display or server name); repeatable",
        )  # fmt: skip
        parser.add_argument("--format", choices=FORMATS, default="eml", dest="fmt")

    def handle(self, *args, account: str, output: str, folders, fmt: str, **options) -> None:
        target = Path(output)
        if not target.parent.is_dir():
            raise CommandError(f"The folder for {target} does not exist.")
        chosen = find_account(account)
        self._tty = sys.stderr.isatty()
        # Write beside the target and rename at the end: a failed export leaves no half zip.
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                stats = export_account(
                    chosen, out, folders=folders, fmt=fmt, progress=self._progress
                )
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except (ExportError, BlobError) as e:
            raise CommandError(str(e)) from None
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        self._end_progress()
        self.stdout.write(
            f"Exported {stats.messages:,} messages from {stats.folders:,} "
            f"folder{'' if stats.folders == 1 else 's'} "
            f"({stats.bytes:,} bytes) to {target}."
        )

    def _progress(self, done: int, total: int) -> None:
        if self._tty and (done % 100 == 0 or done == total):
            self.stderr.write(f"\r{done:,}/{total:,} messages", ending="")

    def _end_progress(self) -> None:
        if self._tty:
            self.stderr.write("")
