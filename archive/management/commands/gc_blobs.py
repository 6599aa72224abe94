"""`manage.py gc_blobs [--dry-run]`: remove stored messages no account uses any more.

The same collection the jobs housekeeping runs every hour (`archive/gc.py`): blobs no message
points at and blob files without a row, once older than BLOB_GC_GRACE_HOURS. Prints what was
removed and the disk space freed; with --dry-run, what would be, changing nothing.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from archive.gc import collect_garbage


class Command(BaseCommand):
    help = "Remove blobs no message references any more (older than BLOB_GC_GRACE_HOURS)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="only report what would be removed"
        )

    def handle(self, *args, dry_run: bool, **options) -> None:
        report = collect_garbage(dry_run=dry_run, actor="command line")
        self.stdout.write(("DRY RUN, nothing changed.\n" if dry_run else "") + report.summary())
