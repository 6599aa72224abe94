"""The command line's side of a run: find the accounts, the job a command's runs belong to, and
show the progress in the terminal while `jobs.runner.run_here` runs it like any other run.

`manage.py backup`, `sync`, `restore` and `verify` are thin shells over `run_command`; their
options are the kind's (`jobs.kinds`), so a command-line run is the run a job would make.
"""

from __future__ import annotations

import threading
import time

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Account
from jobs import kinds, runner
from jobs.engine.progress import FolderProgress
from jobs.engine.sizes import size_text
from jobs.models import Job, JobRun, free_job_name
from mail.errors import EngineError

BAR = 24
NAME_MAX = 200  # Job.name


def find_account(value: str) -> Account:
    found = Account.objects.filter(name=value).first()
    if found is None and value.isdigit():
        found = Account.objects.filter(pk=int(value)).first()
    if found is None:
        raise CommandError(f"No account with id or name {value!r}.")
    return found


def command_line_job(kind: str, account: Account, destination: Account | None = None) -> Job:
    """The job whose history holds this account's command-line runs of a kind (made once)."""
    label = Job.Kind(kind).label.lower()
    pair = f"{account.name} → {destination.name}" if destination else account.name
    name = f"{pair}: {label} from the command line"[:NAME_MAX]
    mine = Job.objects.filter(kind=kind, account=account, destination=destination)
    found = mine.filter(name__startswith=name).order_by("pk").first()
    if found is not None:
        return found
    return Job.objects.create(
        name=free_job_name(name), kind=kind, account=account, destination=destination
    )


def add_run_arguments(parser, kind: str) -> None:
    """The kind's options and the lease's: --wait for a busy account."""
    kinds.KINDS[kind].add_arguments(parser)
    parser.add_argument(
        "--wait", action="store_true", help="wait while another run of the account is running"
    )


def run_command(
    command: BaseCommand, kind: str, account: Account, options: dict, destination=None
) -> tuple[JobRun, object]:
    """Run the kind for the account as a recorded run, with the terminal's display; exits 1 when
    the account is busy (naming the run that holds it) or the run did not succeed outright."""
    spec = kinds.KINDS[kind]
    try:
        job_options = spec.options_from_args(options)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    job = command_line_job(kind, account, destination)
    display = display_for(command.stdout)
    try:
        run = runner.run_here(job, options=job_options, listener=display, wait=options["wait"])
    except runner.AccountBusy as exc:
        command.stderr.write(str(exc))
        raise SystemExit(1) from None
    finally:
        display.close()
    report = getattr(run, "report", None)
    if report is None:
        command.stderr.write(f"{spec.verb} of {account.name} {run.state}: {run.error}")
        raise SystemExit(1)
    return run, report


def dry_run(kind: str, account: Account, destination: Account, options: dict):
    """The kind's dry run (nothing changes, nothing is recorded); exit 1 when it cannot log in."""
    try:
        return kinds.dry_run(kind, account, destination, options)
    except EngineError as exc:
        raise CommandError(f"Dry run of {account.name} into {destination.name}: {exc}") from None


def print_report(command: BaseCommand, report) -> None:
    for folder in report.folders:
        if report.dry_run and folder.state != "skipped":
            create = " (to create)" if folder.create else ""
            line = f"{folder.to_copy} to copy into {folder.target}{create}"
        else:
            line = folder.verification()
        command.stdout.write(f"  {folder.folder}: {line}")
    command.stdout.write(report.summary())
    if report.error:
        command.stderr.write(f"Problems: {report.error}")


def display_for(out):
    return BarDisplay(out) if out.isatty() else LineDisplay(out)


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
    # The pages' sizes (binary MB), and of how many where the server told them.
    size = size_text(p.bytes) + (f" of {size_text(p.total_bytes)}" if p.total_bytes else "")
    return f"{name:<28} [{bar}] {counts:>13} {size:>10} {p.state} {p.error}".rstrip()
