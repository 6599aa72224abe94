"""Background exports: an export job run writes its zip to a file, then offers it for download.

The job's options say what to export (`scope_options`): a whole account, some of its folders, or
a list of message ids (a selection or a search result), and the format ("eml" zip with manifest,
or "mbox"). `run_export` is the runner's call for the "export" kind: it writes the zip with
`archive.export.export_messages` to `<DATA_DIR>/exports/<run id>.zip`, through a temporary file
renamed into place only when complete, so a cancelled, failed or killed run leaves no file that
looks finished. The name comes from the run id alone, never from anything in a message.
Old files are removed by the jobs housekeeping (`purge_old_exports`).
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.db.models import QuerySet

from archive.blobstore import BlobError
from archive.export import FORMATS, ExportError, ExportStats, account_folders, export_messages
from archive.models import Message
from jobs.engine.backup.report import FolderReport
from jobs.engine.progress import FolderProgress
from mail.errors import PermanentError
from sitesettings.values import site_settings

PROGRESS_LABEL = "Export"
PART_SUFFIX = ".part"


class ExportStopped(Exception):
    """Raised from the progress callback to stop an export between two messages."""


def exports_dir() -> Path:
    return Path(settings.DATA_DIR) / "exports"


def export_path(run_id: int) -> Path:
    """Where a run's finished export lives: named by the run id and nothing else."""
    return exports_dir() / f"{int(run_id)}.zip"


def scope_options(
    *,
    scope: str,
    fmt: str,
    account_ids: list[int],
    label: str,
    folders: list[str] | None = None,
    message_ids: list[int] | None = None,
) -> dict:
    """The options JSON of an export job. `account_ids`: every account whose mail it holds
    (the download is allowed to whoever may see them all); `label`: the download's name."""
    if fmt not in FORMATS:
        raise ExportError(f"Unknown export format {fmt!r}: use one of {', '.join(FORMATS)}.")
    options: dict = {"scope": scope, "fmt": fmt, "account_ids": sorted(set(account_ids))}
    options["label"] = label
    if folders is not None:
        options["folders"] = list(folders)
    if message_ids is not None:
        options["message_ids"] = [int(i) for i in message_ids]
    return options


def messages_for(account, options: dict) -> QuerySet[Message]:
    """The messages an export job's options name (ids win over folders over the account)."""
    if options.get("message_ids") is not None:
        return Message.objects.filter(pk__in=[int(i) for i in options["message_ids"]])
    if options.get("folders"):
        return Message.objects.filter(folder__in=account_folders(account, options["folders"]))
    return Message.objects.filter(folder__account=account)


def write_export(
    messages: QuerySet[Message],
    dest: Path,
    *,
    fmt: str = "eml",
    progress: Callable[[int, int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ExportStats:
    """Write the export to `dest` via a temporary file beside it, renamed when complete.

    progress(done, total, bytes written so far) after each message. Raises ExportStopped when
    should_stop() turns true; on any error the temporary file is removed and `dest` untouched.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp creates the file with mode 0600: an export holds whole mailboxes.
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.stem}-", suffix=PART_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as out:
            tick = _ticker(out, progress, should_stop)
            if should_stop is not None and should_stop():
                raise ExportStopped
            stats = export_messages(messages, out, fmt=fmt, progress=tick)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return stats


def _ticker(out: BinaryIO, progress, should_stop) -> Callable[[int, int], None]:
    def tick(done: int, total: int) -> None:
        if progress is not None:
            progress(done, total, out.tell())
        # Checked between messages: export_messages has no stop flag, so we leave by raising.
        if should_stop is not None and should_stop():
            raise ExportStopped

    return tick


@dataclass
class ExportReport:
    """The shape every engine returns to the runner (see jobs.runner._outcome)."""

    state: str  # "succeeded" | "cancelled"
    folders: list[FolderReport] = field(default_factory=list)
    messages_fetched: int = 0
    bytes_fetched: int = 0
    error: str = ""

    def summary(self) -> str:
        if self.state == "cancelled":
            return f"cancelled after {self.messages_fetched:,} messages; no file was kept"
        return (
            f"{self.messages_fetched:,} messages exported "
            f"({self.bytes_fetched:,} bytes), ready to download"
        )


def run_export(run, recorder) -> ExportReport:
    """The job runner's call for an "export" job run."""
    options = run.job.options or {}
    fmt = options.get("fmt", "eml")
    state = FolderProgress(PROGRESS_LABEL, "running")

    def progress(done: int, total: int, written: int) -> None:
        state.done, state.total, state.bytes = done, total, written
        recorder.progress(state)

    recorder.log(f"Exporting the {options.get('scope', 'account')} as {fmt}.")
    try:
        messages = messages_for(run.account, options)
        state.total = messages.count()
        recorder.progress(state)
        stats = write_export(
            messages,
            export_path(run.pk),
            fmt=fmt,
            progress=progress,
            should_stop=recorder.should_stop,
        )
    except ExportStopped:
        return _report("cancelled", state)
    except (ExportError, BlobError) as exc:
        raise PermanentError(f"The export failed: {exc}") from exc
    state.state = "done"
    recorder.progress(state)
    report = _report("succeeded", state)
    report.messages_fetched = stats.messages
    report.bytes_fetched = export_path(run.pk).stat().st_size  # what the download will be
    return report


def _report(run_state: str, state: FolderProgress) -> ExportReport:
    folder_state = "done" if run_state == "succeeded" else "cancelled"
    folder = FolderReport(PROGRESS_LABEL, folder_state, fetched=state.done, bytes=state.bytes)
    return ExportReport(run_state, [folder], state.done, state.bytes)


def purge_old_exports(days: int | None = None, now: float | None = None) -> int:
    """Remove export files (and leftover temporary files) older than EXPORT_RETENTION_DAYS."""
    days = site_settings().export_retention_days if days is None else days
    root = exports_dir()
    if days <= 0 or not root.is_dir():
        return 0
    cutoff = (now or time.time()) - dt.timedelta(days=days).total_seconds()
    removed = 0
    for entry in root.iterdir():
        if not entry.name.endswith((".zip", PART_SUFFIX)) or not entry.is_file():
            continue
        if entry.stat().st_mtime < cutoff:
            entry.unlink(missing_ok=True)
            removed += 1
    return removed
