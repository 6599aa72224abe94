"""`manage.py backup ACCOUNT [--folder NAME ...]`: back up one account in the foreground.

A progress bar per folder on a terminal, plain lines otherwise (logs, cron). Exit status 0 when
the backup succeeded, 1 otherwise, with the reason printed.
"""

from __future__ import annotations

import sys
import threading
import time

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Account
from jobs.engine.backup import BackupOptions, FolderProgress, backup_account
from jobs.engine.errors import EngineError

BAR = 24


class Command(BaseCommand):
    help = "Back up one mail account (by id or name) into the archive, in the foreground."
    # The system checks import every URL and view first: a third of this command's start-up,
    # spent on nothing it uses (the web process and `manage.py check` still run them).
    requires_system_checks: list[str] = []

    def add_arguments(self, parser) -> None:
        parser.add_argument("account", help="account id or exact name")
        parser.add_argument(
            "--folder", action="append", dest="folders", metavar="NAME", help="only this folder"
        )
        parser.add_argument("--batch-bytes", type=int, default=None, help="bytes per body FETCH")

    def handle(self, *args, account: str, folders, batch_bytes, **options) -> None:
        found = Account.objects.filter(name=account).first()
        if found is None and account.isdigit():
            found = Account.objects.filter(pk=int(account)).first()
        if found is None:
            raise CommandError(f"No account with id or name {account!r}.")
        opts = BackupOptions(folders=folders or None)
        if batch_bytes:
            opts.batch_bytes = batch_bytes
        tty = self.stdout.isatty()
        display = BarDisplay(self.stdout) if tty else LineDisplay(self.stdout)
        try:
            report = backup_account(found, opts, progress=display.update, log=display.log)
        except EngineError as exc:
            display.close()
            self.stderr.write(f"Backup of {found.name} failed: {exc}")
            sys.exit(1)
        display.close()
        for folder in report.folders:
            if folder.state == "failed":
                self.stderr.write(f"  {folder.folder}: {folder.error}")
            elif folder.parked:
                self.stderr.write(f"  {folder.folder}: parked UIDs {folder.parked_uids}")
        self.stdout.write(f"Backup of {found.name} {report.state}: {report.summary()}")
        if report.state != "succeeded":
            self.stderr.write(f"Reason: {report.error or report.summary()}")
            sys.exit(1)


class LineDisplay:
    """One plain line per folder state change, and about every tenth of a folder."""

    def __init__(self, out):
        self.out = out
        self.last: dict[str, tuple[str, int]] = {}

    def update(self, p: FolderProgress) -> None:
        step = max(1, p.total // 10)
        previous = self.last.get(p.folder)
        if previous and previous[0] == p.state and p.done - previous[1] < step:
            return
        self.last[p.folder] = (p.state, p.done)
        detail = f" {p.done}/{p.total} messages, {p.bytes:,} bytes" if p.total else ""
        error = f" ({p.error})" if p.error else ""
        self.out.write(f"{p.folder}: {p.state}{detail}{error}")
        self.out.flush()

    def log(self, message: str) -> None:
        self.out.write(message)

    def close(self) -> None:
        return None


class BarDisplay:
    """A block of bars, one per folder, redrawn in place (at most ten times a second)."""

    def __init__(self, out):
        self.out = out
        self.folders: dict[str, FolderProgress] = {}
        self.drawn = 0
        self.lock = threading.Lock()
        self.last_draw = 0.0

    def update(self, p: FolderProgress) -> None:
        with self.lock:
            self.folders[p.folder] = p
            if time.monotonic() - self.last_draw > 0.1 or p.state != "running":
                self.draw()

    def log(self, message: str) -> None:
        with self.lock:
            self.clear()
            self.out.write(message)
            self.draw()

    def draw(self) -> None:
        self.clear()
        for p in self.folders.values():
            self.out.write(bar_line(p))
        self.drawn = len(self.folders)
        self.out.flush()
        self.last_draw = time.monotonic()

    def clear(self) -> None:
        if self.drawn:
            self.out.write(f"\x1b[{self.drawn}F\x1b[J", ending="")
        self.drawn = 0

    def close(self) -> None:
        with self.lock:
            self.draw()


def bar_line(p: FolderProgress) -> str:
    fraction = p.done / p.total if p.total else (1.0 if p.state == "done" else 0.0)
    filled = int(fraction * BAR)
    bar = "#" * filled + "-" * (BAR - filled)
    name = p.folder if len(p.folder) <= 28 else p.folder[:27] + "…"
    counts = f"{p.done}/{p.total}" if p.total else ""
    return f"{name:<28} [{bar}] {counts:>13} {p.bytes / 1e6:8.1f} MB {p.state} {p.error}".rstrip()
