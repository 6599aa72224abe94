"""Sync and restore runs: the job options as engine options, and the calls the runner makes.

`jobs.runner` dispatches by job kind; for these two kinds it calls `ENGINES[kind](run, recorder)`
and records the returned report exactly like a backup report. Export runs (background exports of
the archive) go through `ENGINES` too, to `archive.export_job.run_export`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

from jobs.engine.errors import PermanentError
from jobs.engine.mapping import parse_rules
from jobs.engine.restore import RestoreOptions, restore_messages
from jobs.engine.sync import SyncOptions, sync_accounts
from jobs.models import Job, JobRun

logger = logging.getLogger(__name__)


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def sync_options(options: dict, *, only_folders: Iterable[str] = (), dry_run: bool = False):
    """The job's options JSON as SyncOptions (rules as text, one `source -> target` a line)."""
    extra = {"batch_bytes": int(options["batch_bytes"])} if options.get("batch_bytes") else {}
    return SyncOptions(
        **extra,
        folders=list(only_folders) or options.get("folders") or None,
        include=list(options.get("include") or []),
        exclude=list(options.get("exclude") or []),
        since=_date(options.get("since")),
        before=_date(options.get("before")),
        max_message_size=options.get("max_message_size") or None,
        skip_trash_and_junk=bool(options.get("skip_trash_and_junk")),
        rules=parse_rules(options.get("rules") or ""),
        sync_flags=bool(options.get("sync_flags")),
        mirror_deletions=bool(options.get("mirror_deletions")),
        gmail_dedupe=options.get("gmail_dedupe", True) is not False,
        dry_run=dry_run,
    )


def restore_options(options: dict, *, only_folders: Iterable[str] = (), dry_run: bool = False):
    ids = options.get("message_ids")
    return RestoreOptions(
        folders=list(only_folders) or options.get("folders") or None,
        message_ids=[int(i) for i in ids] if ids is not None else None,
        into=options.get("into") or "",
        include_deleted=options.get("include_deleted", True) is not False,
        dry_run=dry_run,
    )


def _destination(job: Job):
    if job.destination is None:
        raise PermanentError(
            f"The {job.get_kind_display().lower()} job has no destination account."
        )
    return job.destination


def run_sync(run: JobRun, recorder):
    return sync_accounts(
        run.account,
        _destination(run.job),
        sync_options(run.job.options, only_folders=run.only_folders),
        progress=recorder.progress,
        should_stop=recorder.should_stop,
        log=recorder.log,
    )


def run_restore(run: JobRun, recorder):
    # Retrying failed folders: the FolderRun names are the archived folders'.
    only = [name for entry in run.only_folders for name in entry.split(", ")]
    return restore_messages(
        run.account,
        _destination(run.job),
        restore_options(run.job.options, only_folders=only),
        progress=recorder.progress,
        should_stop=recorder.should_stop,
        log=recorder.log,
    )


def run_export(run: JobRun, recorder):
    from archive.export_job import run_export as export

    return export(run, recorder)


ENGINES = {Job.Kind.SYNC: run_sync, Job.Kind.RESTORE: run_restore, Job.Kind.EXPORT: run_export}


def dry_run(job: Job):
    """What a run of this job would do, changing nothing (for the dry-run page and command)."""
    if job.kind == Job.Kind.SYNC:
        return sync_accounts(
            job.account, _destination(job), sync_options(job.options, dry_run=True)
        )
    return restore_messages(
        job.account, _destination(job), restore_options(job.options, dry_run=True)
    )


def after_run(run: JobRun) -> None:
    """A bulk migration's next rows start when one of its runs ends."""
    if run.job.kind != Job.Kind.SYNC:
        return
    from jobs import bulk

    try:
        bulk.dispatch_for_job(run.job_id)
    except Exception:  # a bulk bookkeeping problem must not turn a finished run into a failure
        logger.exception("bulk dispatch after run %s failed", run.pk, extra={"run_id": run.pk})
