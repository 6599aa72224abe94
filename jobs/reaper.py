"""Housekeeping that beat runs every minute: no run stays "running" or "queued" forever.

- A running run whose heartbeat is older than JOBS_STALE_SECONDS lost its worker: it becomes
  "interrupted" and a new run of the job resumes it (the engine resumes from committed state),
  unless it was attempted JOBS_MAX_ATTEMPTS times already: then it is quarantined and reported.
- A queued run whose Celery message was lost (Redis restarted empty) is sent again.
- Jobs with "no successful run for N days" notifications are checked.
- Background export files older than EXPORT_RETENTION_DAYS are removed.
- Once an hour, blobs no message uses any more are collected (`archive/gc.py`).
- The search index's segments left by backups are merged, a second's work at a time.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Q
from django.utils import timezone

from jobs import leases, runner
from jobs.models import Job, JobRun
from jobs.progress import append_log
from sitesettings.values import local_now, site_settings

logger = logging.getLogger(__name__)
State = JobRun.State


def housekeeping() -> dict[str, int]:
    return {
        "interrupted": reap_stale_runs(),
        "resent": resend_lost_runs(),
        "stale_notified": notify_stale_jobs(),
        "exports_removed": purge_old_exports(),
        "blobs_removed": collect_blobs(),
        "search_merges": compact_search_index(),
    }


def compact_search_index() -> int:
    """Merge steps done on the search index (what a backup left unmerged, see archive.search)."""
    from archive.search import compact

    try:
        return compact()
    except DatabaseError:  # a locked database: the next minute's housekeeping tries again
        logger.exception("search index merge failed")
        return 0


def collect_blobs() -> int:
    """Blobs (and orphan files) removed from the store, when the hourly collection was due."""
    from archive.gc import collect_if_due

    try:
        report = collect_if_due()
    except (OSError, DatabaseError):  # like the exports: never stop the reaper's other work
        logger.exception("blob garbage collection failed")
        return 0
    return report.rows_removed + report.orphans_removed if report else 0


def purge_old_exports() -> int:
    from jobs.engine.export import purge_old_exports as purge

    try:
        removed = purge()
    except OSError:  # an unreadable exports folder must not stop the reaper's other work
        logger.exception("could not purge old exports")
        return 0
    drop_old_export_jobs()
    return removed


def drop_old_export_jobs(now: dt.datetime | None = None) -> int:
    """A background export's one-off job goes with its file, once no run of it is active."""
    days = site_settings().export_retention_days
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - dt.timedelta(days=days)
    old = Job.objects.filter(kind=Job.Kind.EXPORT, created_at__lt=cutoff)
    old = old.exclude(runs__state__in=JobRun.ACTIVE_STATES)
    return old.delete()[1].get("jobs.Job", 0)


def reap_stale_runs(now: dt.datetime | None = None) -> int:
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=settings.JOBS_STALE_SECONDS)
    stale = Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    count = 0
    for run in JobRun.objects.filter(stale, state=State.RUNNING).select_related("job"):
        message = (
            f"The worker running this run stopped (no heartbeat for over "
            f"{settings.JOBS_STALE_SECONDS} s)."
        )
        marked = JobRun.objects.filter(stale, pk=run.pk, state=State.RUNNING).update(
            state=State.INTERRUPTED, finished_at=now, error=message, error_kind="stale"
        )
        if not marked:
            continue  # it heartbeated or finished meanwhile
        count += 1
        leases.release(run.account_id, run.pk)
        run.refresh_from_db()
        _resume_or_quarantine(run, message)
    return count


def _resume_or_quarantine(run: JobRun, message: str) -> None:
    stamp = f"{local_now():%H:%M:%S}"
    if run.attempts >= settings.JOBS_MAX_ATTEMPTS:
        error = (
            f"{message} Quarantined: it was attempted {run.attempts} times and its worker died "
            "each time, so it is not resumed automatically. Check the worker logs, then run "
            "the job again."
        )
        JobRun.objects.filter(pk=run.pk).update(error=error)
        append_log(run.pk, [f"{stamp} Interrupted. {error}"])
        run.error = error
        runner.notify_safely(run)
        return
    resume, created = runner.trigger(
        run.job, run.trigger, only_folders=run.only_folders, resumes=run
    )
    append_log(run.pk, [f"{stamp} Interrupted: {message} Resumed by run #{resume.pk}."])
    logger.info("run %s interrupted, resumed by %s", run.pk, resume.pk, extra={"run_id": run.pk})


def resend_lost_runs(now: dt.datetime | None = None) -> int:
    """Queued runs with no message for a while, whose account is free, are sent again."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=settings.JOBS_STALE_SECONDS)
    lost = JobRun.objects.filter(state=State.QUEUED).filter(
        Q(enqueued_at__lt=cutoff) | Q(enqueued_at__isnull=True, queued_at__lt=cutoff)
    )
    lost = lost.filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
    lost = lost.exclude(runner.held_by_command_line(now))
    count = 0
    for run in lost:
        if leases.holder(run.account_id) is None:
            runner.enqueue(run)
            count += 1
    return count


def notify_stale_jobs(now: dt.datetime | None = None) -> int:
    """Jobs asking to hear when they had no successful run for N days, told once per streak."""
    from jobs import notify

    now = now or timezone.now()
    count = 0
    for job in Job.objects.filter(enabled=True, notify_stale_days__isnull=False):
        since = now - dt.timedelta(days=job.notify_stale_days)
        last = job.runs.filter(state=State.SUCCEEDED).order_by("-finished_at").first()
        last_ok = last.finished_at if last else job.created_at
        if last_ok >= since:
            continue
        if job.stale_notified_at and job.stale_notified_at >= last_ok:
            continue  # already told about this streak
        if notify.job_stale(job, last):
            count += 1
        Job.objects.filter(pk=job.pk).update(stale_notified_at=now)
    return count
