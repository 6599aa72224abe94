"""manage.py reindex: rebuild the full-text search index from the archived messages."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand

from archive import search


class Command(BaseCommand):
    help = "Rebuild the archive's full-text search index (SQLite FTS5 or PostgreSQL)."

    def handle(self, *args, **options) -> None:
        tty = sys.stderr.isatty()

        def progress(done: int, total: int) -> None:
            if tty and (done % 1000 == 0 or done == total):
                self.stderr.write(f"\r{done:,}/{total:,} messages", ending="")

        count = search.rebuild(progress=progress)
        if tty:
            self.stderr.write("")
        self.stdout.write(f"Indexed {count:,} messages ({search.index_size():,} bytes of index).")
