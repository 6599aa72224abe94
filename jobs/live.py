"""Numbers for the live progress fragment: done/total, bytes, rate and time left.

The overall figures are computed from the FolderRun rows, not from the run's running totals:
a backup learns each folder's count only when it reaches the folder, so the sum of the totals
seen so far grew all run long ("1202 / 1232" half way through a run that ended at 2,380). Until
every folder has been counted the page says "counting" and shows no percentage; after that
the bar only moves forward (the page sends back what it last showed, see `floor`).

A verification's rows that compare a folder with the server read no message: its figures are
the integrity row's (the stored messages re-read), as its summary says.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from django.utils import timezone

from jobs.engine.verify import INTEGRITY
from jobs.models import FolderRun, Job, JobRun

FINISHED_FOLDER = (
    FolderRun.State.DONE,
    FolderRun.State.PARTIAL,
    FolderRun.State.FAILED,
    FolderRun.State.SKIPPED,
)
PERMILLE = 1000


@dataclass
class Bar:
    label: str
    state: str
    done: int
    total: int
    bytes: int
    rate: float | None  # bytes per second
    eta: dt.timedelta | None
    error: str = ""
    complete: bool = False  # finished with nothing (left) to fetch: a full bar
    total_bytes: int = 0  # of the messages to fetch, where the server told; 0: unknown

    @property
    def value(self) -> int:
        return self.max if self.complete else min(self.done, self.total)

    @property
    def max(self) -> int:
        return max(self.total, 1)

    @property
    def percent(self) -> int:
        return self.value * 100 // self.max


@dataclass
class Overall:
    """All folders together. `total` is None while some folder is still being counted."""

    state: str
    done: int
    total: int | None
    bytes: int
    rate: float | None  # bytes per second
    message_rate: float | None  # messages per second
    eta: dt.timedelta | None
    complete: bool = False
    floor: int = 0  # permille the page showed last: the bar never moves back below it
    total_bytes: int | None = None  # None while counting or where a folder's size is unknown

    @property
    def counting(self) -> bool:
        return self.total is None and not self.complete

    @property
    def indeterminate(self) -> bool:
        """No bar length to show: still counting, and nothing was shown before."""
        return self.counting and not self.floor

    @property
    def max(self) -> int:
        return PERMILLE if self.counting else max(self.total or 0, 1)

    @property
    def value(self) -> int:
        if self.complete:
            return self.max
        if self.counting:  # counting again (a folder row came late): hold what was shown
            return self.floor
        shown = min(self.done, self.total or 0)
        return max(shown, math.ceil(self.floor * self.max / PERMILLE))

    @property
    def permille(self) -> int:
        return self.value * PERMILLE // self.max

    @property
    def percent(self) -> int:
        return self.permille // 10


def _elapsed(started: dt.datetime | None, ended: dt.datetime | None) -> float:
    if started is None:
        return 0.0
    return max(((ended or timezone.now()) - started).total_seconds(), 0.0)


def _rate_and_eta(
    done: int, total: int, nbytes: int, started: dt.datetime | None, ended: dt.datetime | None
) -> tuple[float | None, dt.timedelta | None]:
    elapsed = _elapsed(started, ended)
    if done <= 0 or elapsed <= 0:
        return None, None
    eta = None
    if ended is None and total > done:
        eta = dt.timedelta(seconds=round((total - done) * elapsed / done))
    return nbytes / elapsed, eta


def folder_bar(f: FolderRun, run_ended: dt.datetime | None) -> Bar:
    finished = f.state in (FolderRun.State.DONE, FolderRun.State.SKIPPED)
    ended = f.finished_at or run_ended
    rate, eta = _rate_and_eta(f.done, f.total, f.bytes, f.started_at, ended)
    bar = Bar(f.folder, f.state, f.done, f.total, f.bytes, rate, eta, f.error, finished)
    bar.total_bytes = max(f.total_bytes, f.bytes) if f.total_bytes else 0
    return bar


def counted(f: FolderRun) -> bool:
    """Whether this folder's total is known: it finished, or it reported a count. A backup
    lists every folder as pending with no count and counts one when it opens it."""
    return f.state in FINISHED_FOLDER or f.total > 0


def counted_rows(run: JobRun, folders: list[FolderRun]) -> list[FolderRun]:
    """The rows whose messages the overall figures add up."""
    if run.job.kind == Job.Kind.VERIFY:
        return [f for f in folders if f.folder == INTEGRITY]
    return folders


def overall(run: JobRun, folders: list[FolderRun], floor: int = 0) -> Overall:
    known = bool(folders) and all(map(counted, folders)) and not _folders_missing(run, folders)
    folders = counted_rows(run, folders)
    done = sum(f.done for f in folders)
    nbytes = sum(f.bytes for f in folders)
    total = sum(f.total for f in folders) if known or not run.is_active else None
    if total is not None:
        total = max(total, done)
    ended = None if run.is_active else run.finished_at
    elapsed = _elapsed(run.started_at, ended)
    rate = nbytes / elapsed if elapsed > 0 and nbytes else None
    message_rate = done / elapsed if elapsed > 0 and done else None
    eta = None
    if run.is_active and total is not None and message_rate and total > done:
        eta = dt.timedelta(seconds=round((total - done) / message_rate))
    complete = run.state == JobRun.State.SUCCEEDED  # everything is in the archive
    floor = min(max(floor, 0), PERMILLE) if run.is_active else 0
    figures = Overall(run.state, done, total, nbytes, rate, message_rate, eta, complete, floor)
    figures.total_bytes = _total_bytes(folders) if total is not None else None
    return figures


def _total_bytes(folders: list[FolderRun]) -> int | None:
    """The bytes to fetch of all folders, when every folder with messages to fetch told its
    size (a server without sizes, or an engine that does not report them: None)."""
    if any(f.total and not f.total_bytes for f in folders):
        return None
    return max(sum(f.total_bytes for f in folders), sum(f.bytes for f in folders)) or None


def _folders_missing(run: JobRun, folders: list[FolderRun]) -> bool:
    """The run announced more folders than have rows yet (rows are written once a second)."""
    return run.folders_total > len(folders)


def progress_context(run: JobRun, floor: int = 0) -> dict:
    folders = list(run.folders.all())
    ended = run.finished_at if not run.is_active else None
    return {
        "run": run,
        "overall": overall(run, folders, floor),
        "bars": [folder_bar(f, ended) for f in folders],
    }


def parse_floor(text: str | None) -> int:
    """The `shown` parameter of a poll: the permille the page showed before (0 if absent)."""
    try:
        return int(text or 0)
    except ValueError:
        return 0
