"""A job's schedule as one django-celery-beat PeriodicTask, kept in sync on save and delete.

Beat's DatabaseScheduler notices PeriodicTask changes on its next tick, so an edited schedule
takes effect without a restart. Times are in the site's time zone (settings page, else TIME_ZONE).
"""

from __future__ import annotations

import datetime as dt
import json

from celery.schedules import crontab
from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from jobs.models import Job
from sitesettings.values import site_settings

FIRE_TASK = "jobs.fire_job"
DAY_NAMES = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]


def parse_cron(expression: str) -> dict[str, str]:
    """Five cron fields as CrontabSchedule keyword arguments; ValueError if celery refuses them."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError("A cron expression has five fields: minute hour day month weekday.")
    keys = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
    values = dict(zip(keys, fields, strict=True))
    crontab(**values)  # validates every field
    return values


def crontab_fields(job: Job) -> dict[str, str] | None:
    """The job's schedule as crontab fields, or None when it is manual or an interval."""
    if job.schedule == Job.Schedule.CRON:
        return parse_cron(job.cron)
    if job.schedule in (Job.Schedule.DAILY, Job.Schedule.WEEKLY) and job.time_of_day:
        days = "*"
        if job.schedule == Job.Schedule.WEEKLY:
            days = ",".join(str(d) for d in sorted(job.weekdays)) or "*"
        return {
            "minute": str(job.time_of_day.minute),
            "hour": str(job.time_of_day.hour),
            "day_of_month": "*",
            "month_of_year": "*",
            "day_of_week": days,
        }
    return None


def _schedule_for(job: Job) -> dict:
    """PeriodicTask schedule fields (interval or crontab) for a scheduled job."""
    if job.schedule == Job.Schedule.INTERVAL and job.interval_hours:
        interval, _ = IntervalSchedule.objects.get_or_create(
            every=job.interval_hours, period=IntervalSchedule.HOURS
        )
        return {"interval": interval, "crontab": None}
    fields = crontab_fields(job)
    if fields is None:
        return {}
    cron, _ = CrontabSchedule.objects.get_or_create(**fields, timezone=site_settings().time_zone)
    return {"interval": None, "crontab": cron}


@transaction.atomic
def sync_periodic_task(job: Job) -> PeriodicTask | None:
    """Create, update or remove the job's PeriodicTask so beat fires exactly what the job says."""
    schedule = _schedule_for(job) if job.schedule != Job.Schedule.MANUAL else {}
    task = job.periodic_task
    if not schedule:
        if task is not None:
            Job.objects.filter(pk=job.pk).update(periodic_task=None)
            job.periodic_task = None
            task.delete()
        return None
    if task is None:
        task = PeriodicTask(name=f"job-{job.pk}", task=FIRE_TASK)
    changed = task.interval_id != getattr(schedule["interval"], "pk", None) or (
        task.crontab_id != getattr(schedule["crontab"], "pk", None)
    )
    task.interval, task.crontab = schedule["interval"], schedule["crontab"]
    task.args = json.dumps([job.pk])
    task.enabled = job.enabled
    task.description = f"{job.get_kind_display()} job {job.name!r}"
    if changed:
        # A new schedule counts from now, not from a run under the old one.
        task.last_run_at = None
    task.save()
    if job.periodic_task_id != task.pk:
        Job.objects.filter(pk=job.pk).update(periodic_task=task)
        job.periodic_task = task
    return task


def reschedule_all() -> int:
    """Rebuild every scheduled job's task (after the site's time zone changed): the number."""
    jobs = Job.objects.exclude(schedule=Job.Schedule.MANUAL).select_related("periodic_task")
    for job in jobs:
        sync_periodic_task(job)
    return len(jobs)


def remove_periodic_task(job: Job) -> None:
    if job.periodic_task_id:
        PeriodicTask.objects.filter(pk=job.periodic_task_id).delete()


def describe(job: Job) -> str:
    """The schedule in words, for lists and the dashboard."""
    when = job.time_of_day.strftime("%H:%M") if job.time_of_day else ""
    match job.schedule:
        case Job.Schedule.INTERVAL:
            hours = job.interval_hours or 0
            return "every hour" if hours == 1 else f"every {hours} hours"
        case Job.Schedule.DAILY:
            return f"daily at {when}"
        case Job.Schedule.WEEKLY:
            days = ", ".join(DAY_NAMES[d] for d in sorted(job.weekdays))
            return f"weekly on {days} at {when}"
        case Job.Schedule.CRON:
            return f"cron {job.cron}"
    return "manual only"


def period(job: Job) -> dt.timedelta | None:
    """Roughly how often the job runs: "not backed up for twice this" is a problem."""
    match job.schedule:
        case Job.Schedule.INTERVAL:
            return dt.timedelta(hours=job.interval_hours or 1)
        case Job.Schedule.DAILY:
            return dt.timedelta(days=1)
        case Job.Schedule.WEEKLY:
            return dt.timedelta(days=7 / max(1, len(job.weekdays)))
        case Job.Schedule.CRON:
            return _cron_period(job)
    return None


def _cron_period(job: Job) -> dt.timedelta | None:
    """The gap between the next two firings of a cron schedule."""
    try:
        schedule = crontab(**parse_cron(job.cron))
    except ValueError:
        return None
    # remaining_estimate(t) is "the first firing after t" minus now.
    now = timezone.now()
    first = now + schedule.remaining_estimate(now)
    second = now + schedule.remaining_estimate(first + dt.timedelta(seconds=1))
    return max(second - first, dt.timedelta(minutes=1))


def next_run(job: Job, now: dt.datetime | None = None) -> dt.datetime | None:
    """When beat will fire the job next, or None (manual, disabled, or no schedule yet)."""
    task = job.periodic_task
    if not job.enabled or task is None or not task.enabled:
        return None
    now = now or timezone.now()
    # Beat counts a new interval task from when it first sees it: about when it was saved.
    last = task.last_run_at or (task.date_changed if task.interval_id else now) or now
    when = now + max(dt.timedelta(0), task.schedule.remaining_estimate(last))
    # remaining_estimate reads the clock again: round away the microseconds between the two.
    return (when + dt.timedelta(microseconds=500_000)).replace(microsecond=0)
