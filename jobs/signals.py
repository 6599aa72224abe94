"""Keep each job's beat PeriodicTask in step with the job, whoever saved it (UI, admin, shell)."""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import Signal, receiver

from accounts.signals import account_deleting
from backupweb.celery import app as celery_app
from jobs import schedules
from jobs.models import Job

logger = logging.getLogger(__name__)


@receiver(post_save, sender=Job, dispatch_uid="jobs-sync-schedule")
def sync_schedule(sender, instance: Job, raw: bool = False, **kwargs) -> None:
    if not raw:
        schedules.sync_periodic_task(instance)


@receiver(post_delete, sender=Job, dispatch_uid="jobs-remove-schedule")
def remove_schedule(sender, instance: Job, **kwargs) -> None:
    schedules.remove_periodic_task(instance)


@receiver(account_deleting, dispatch_uid="jobs-drop-jobs-of-deleted-account")
def drop_jobs_of_deleted_account(sender, account, delete_archive: bool, **kwargs) -> None:
    """A deleted account has nothing left to back up: its jobs and schedules go with it (its
    run history stays while its archive is kept)."""
    for job in Job.objects.filter(account=account):
        job.delete()


@receiver(account_deleting, dispatch_uid="jobs-collect-blobs-of-deleted-archive")
def collect_blobs_of_deleted_archive(sender, account, delete_archive: bool, **kwargs) -> None:
    """Its messages go with the account; the blobs only they used are collected by a task
    queued after the commit (never in the request: it re-reads every candidate blob)."""
    if delete_archive:
        transaction.on_commit(_queue_gc, robust=True)


def _queue_gc() -> None:
    try:
        celery_app.send_task("jobs.gc_blobs")  # by name: jobs.tasks builds on this module
    except Exception as exc:  # Redis away: the hourly housekeeping collects them instead
        logger.warning("could not queue the blob collection: %s", exc)


# Sent by jobs.runner after a run ended and its outcome was recorded, whoever started it:
# `run` is the finished JobRun. Bulk migrations start their next rows from here.
run_finished = Signal()
