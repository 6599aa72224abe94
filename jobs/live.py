"""Numbers for the live progress fragment: done/total, bytes, rate and time left."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone

from jobs.models import FolderRun, JobRun


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

    @property
    def value(self) -> int:
        return self.max if self.complete else min(self.done, self.total)

    @property
    def max(self) -> int:
        return max(self.total, 1)

    @property
    def percent(self) -> int:
        return self.value * 100 // self.max


def _rate_and_eta(
    done: int, total: int, nbytes: int, started: dt.datetime | None, ended: dt.datetime | None
) -> tuple[float | None, dt.timedelta | None]:
    if started is None or done <= 0:
        return None, None
    elapsed = ((ended or timezone.now()) - started).total_seconds()
    if elapsed <= 0:
        return None, None
    eta = None
    if ended is None and total > done:
        eta = dt.timedelta(seconds=round((total - done) * elapsed / done))
    return nbytes / elapsed, eta


def folder_bar(f: FolderRun, run_ended: dt.datetime | None) -> Bar:
    finished = f.state in (FolderRun.State.DONE, FolderRun.State.SKIPPED)
    ended = f.finished_at or run_ended
    rate, eta = _rate_and_eta(f.done, f.total, f.bytes, f.started_at, ended)
    return Bar(f.folder, f.state, f.done, f.total, f.bytes, rate, eta, f.error, finished)


def overall_bar(run: JobRun) -> Bar:
    total, done = run.messages_total, run.messages_fetched
    complete = run.state == JobRun.State.SUCCEEDED  # everything is in the archive
    rate, eta = _rate_and_eta(
        run.messages_fetched, run.messages_total, run.bytes_fetched, run.started_at,
        run.finished_at,
    )  # fmt: skip
    return Bar(
        "All folders", run.state, done, total, run.bytes_fetched, rate, eta, run.error, complete
    )


def progress_context(run: JobRun) -> dict:
    folders = list(run.folders.all())
    ended = run.finished_at if not run.is_active else None
    return {
        "run": run,
        "overall": overall_bar(run),
        "bars": [folder_bar(f, ended) for f in folders],
    }
