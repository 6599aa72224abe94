"""`manage.py migrate_archive --to s3://BUCKET/PREFIX`: copy the local archive into object storage.

Resumable and verified (archive/migrate.py); exit 1 unless every blob row ended up in the
bucket. Then set ARCHIVE_URL to the same URL and restart the web and workers.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from archive.migrate import local_store, migrate_archive, target_store


class Command(BaseCommand):
    help = "Copy the local archive (ARCHIVE_ROOT) into S3-compatible object storage."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--to", required=True, help="s3://BUCKET/PREFIX")

    def handle(self, *args, to: str, **options) -> None:
        try:
            target = target_store(to)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        report = migrate_archive(local_store(), target, progress=self._progress)
        self.stdout.write(
            f"{report.copied} blobs copied ({report.bytes_copied} bytes stored), "
            f"{report.already_there} already in the bucket."
        )
        for line in report.unreadable:
            self.stderr.write(f"not copied, does not read back: {line}")
        if report.rows_missing:
            self.stderr.write(f"{len(report.rows_missing)} blob rows have no object in {to}.")
        if not report.complete:
            raise CommandError("The archive is not completely copied: keep ARCHIVE_URL as it is.")
        self.stdout.write(f"Done: set ARCHIVE_URL={to} and restart the web and the workers.")

    def _progress(self, report) -> None:
        self.stdout.write(f"... {report.copied} copied, {report.already_there} already there")
