"""Celery tasks: thin shells over jobs.runner and jobs.reaper. Messages carry ids only."""

from __future__ import annotations

from celery import shared_task

import audit
from jobs import reaper, runner
from jobs.models import Job, JobRun


@shared_task(name=runner.RUN_TASK, bind=True, acks_late=True, reject_on_worker_lost=True)
def run_job(self, run_id: int) -> str | None:
    run = runner.execute(run_id, worker=self.request.hostname or "")
    return run.state if run else None


@shared_task(name="jobs.fire_job")
def fire_job(job_id: int) -> int | None:
    """Beat fires this for scheduled jobs: queue a run (or join the queued one)."""
    job = Job.objects.filter(pk=job_id, enabled=True).first()
    if job is None:
        return None
    run, created = runner.trigger(job, JobRun.Trigger.SCHEDULE)
    audit.record(
        "schedule", "run.start", run, account=job.account_id, kind=job.kind, joined=not created
    )
    return run.pk


@shared_task(name="jobs.reap")
def reap() -> dict[str, int]:
    """Every few seconds: runs whose worker died are marked interrupted and resumed."""
    return {"interrupted": reaper.reap_stale_runs(), "resent": reaper.resend_lost_runs()}


@shared_task(name="jobs.housekeeping")
def housekeeping() -> dict[str, int]:
    return reaper.housekeeping()


@shared_task(name="jobs.gc_blobs")
def gc_blobs() -> dict[str, int]:
    """Queued after an account is deleted with its archive: give its disk space back."""
    from archive.gc import collect_garbage

    return collect_garbage().counts()
