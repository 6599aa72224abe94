"""Import accounts from a CSV file, like the upload page (`accounts/csv_import.py`)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts import csv_import


class Command(BaseCommand):
    help = (
        "Import accounts from CSV (columns: name,protocol,host,port,security,username,password; "
        "optional preset,notes,tls_fingerprint). Nothing is imported if any row is bad."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path, help="the CSV file (UTF-8, comma or semicolon)")
        parser.add_argument(
            "--update", action="store_true", help="update accounts whose name exists (else skip)"
        )
        parser.add_argument(
            "--valid-only", action="store_true", help="import the valid rows even if some are bad"
        )

    def handle(self, *args, file: Path, update: bool, valid_only: bool, **options) -> None:
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}.") from None
        try:
            outcome = csv_import.import_csv(data, update_existing=update, valid_only=valid_only)
        except csv_import.ImportFileError as exc:
            raise CommandError(str(exc)) from None
        for row in outcome.plan.rows:
            self.stdout.write(row.describe())
        bad = len(outcome.plan.bad_rows)
        if not outcome.imported:
            raise CommandError(f"Nothing imported: {bad} row(s) with errors.")
        self.stdout.write(
            f"{len(outcome.created)} created, {len(outcome.updated)} updated, "
            f"{len(outcome.skipped)} skipped."
        )
        if bad:
            raise CommandError(f"{bad} row(s) with errors were not imported.")
