"""Job and run pages: thin shells over jobs.runner, jobs.schedules and jobs.notify."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

import audit
from accounts.models import Account
from backupweb.access import staff_required
from jobs import dashboard, live, notify, runner, schedules
from jobs.forms_transfer import form_class_for
from jobs.models import Job, JobRun, free_job_name

RUNS_PER_PAGE = 50


def get_job(pk: int) -> Job:
    """Every view fetches jobs through here (one place for access rules: any admin, for now)."""
    return get_object_or_404(Job.objects.select_related("account", "periodic_task"), pk=pk)


def _get_run(pk: int) -> JobRun:
    return get_object_or_404(JobRun.objects.select_related("job", "account"), pk=pk)


@staff_required
def job_list(request: HttpRequest) -> HttpResponse:
    # Background exports are one-off jobs: their runs are in the history, not this list.
    defined = Job.objects.exclude(kind=Job.Kind.EXPORT)
    jobs = list(defined.select_related("account", "periodic_task"))
    for job in jobs:
        job.schedule_text = schedules.describe(job)
        job.next_run_at = schedules.next_run(job)
        job.last_run = job.runs.order_by("-queued_at").first()
    return render(request, "jobs/list.html", {"nav": "jobs", "jobs": jobs})


@staff_required
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_job(pk)
    ctx = {
        "nav": "jobs",
        "job": job,
        "schedule_text": schedules.describe(job),
        "next_run_at": schedules.next_run(job),
        "runs": job.runs.all()[:20],
        "site_default_urls": len(notify.urls_for(None)),
        "notify_events": notify_events(job),
    }
    return render(request, "jobs/detail.html", ctx)


def notify_events(job: Job) -> list[str]:
    """What the job notifies about, in words (a restore runs once: no "no success for N days")."""
    events = [
        ("failure", job.notify_on_failure),
        ("parked messages", job.notify_on_parked),
        ("authentication failure", job.notify_on_auth_failure),
        ("success", job.notify_on_success),
        (f"no success for {job.notify_stale_days} days",
         job.notify_stale_days and job.kind != Job.Kind.RESTORE),
    ]  # fmt: skip
    return [text for text, on in events if on]


@staff_required
def job_create(request: HttpRequest) -> HttpResponse:
    initial = {"account": request.GET.get("account")}
    form_class = form_class_for(request.GET.get("kind", Job.Kind.BACKUP))
    form = form_class(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        job = form.save()
        audit.record(request, "job.create", job, kind=job.kind, schedule=job.schedule)
        messages.success(request, f"Job {job.name!r} created.")
        if job.kind == Job.Kind.SYNC:  # the mapping and pre-flight come before the first run
            return redirect("jobs:preflight", pk=job.pk)
        return redirect(job)
    return render(
        request,
        "jobs/form.html",
        {"nav": "jobs", "form": form, "time_zone": timezone.get_current_timezone_name()},
    )


@staff_required
def job_edit(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_job(pk)
    form = form_class_for(job.kind)(request.POST or None, instance=job)
    if request.method == "POST" and form.is_valid():
        form.save()
        audit.record(request, "job.change", job, fields=sorted(form.changed_data))
        messages.success(request, "Job saved; the new schedule applies from now.")
        return redirect(job)
    ctx = {
        "nav": "jobs",
        "form": form,
        "job": job,
        "time_zone": timezone.get_current_timezone_name(),
    }
    return render(request, "jobs/form.html", ctx)


@staff_required
@require_POST
def job_duplicate(request: HttpRequest, pk: int) -> HttpResponse:
    original = get_job(pk)
    copy = Job.objects.get(pk=original.pk)
    urls = original.get_notify_urls()
    copy.pk = copy.periodic_task = copy.stale_notified_at = None
    copy._state.adding = True
    copy.uid = Job._meta.get_field("uid").default()
    copy.name = free_job_name(f"{original.name} (copy)")
    copy.enabled = False  # two identical schedules firing is rarely what anyone wants
    copy.set_notify_urls(urls)
    copy.save()
    audit.record(request, "job.create", copy, duplicate_of=original.pk)
    messages.success(request, f"Duplicated as {copy.name!r} (disabled until you enable it).")
    return redirect("jobs:edit", pk=copy.pk)


@staff_required
@require_POST
def job_delete(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_job(pk)
    if job.runs.filter(state=JobRun.State.RUNNING).exists():
        messages.error(request, "This job is running: cancel the run first.")
        return redirect(job)
    audit.record(request, "job.delete", job)
    job.delete()
    messages.success(request, f"Job {job.name!r} deleted; the archive keeps what it stored.")
    return redirect("jobs:list")


@staff_required
@require_POST
def job_run_now(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_job(pk)
    run, created = runner.trigger(job, JobRun.Trigger.MANUAL)
    audit.record(request, "run.start", run, job=job.name, kind=job.kind, joined=not created)
    if not created:
        messages.info(request, "A run of this job is already queued; it will start soon.")
    return redirect(run)


@staff_required
@require_POST
def job_notify_test(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_job(pk)
    outcome = notify.send_test(job)
    (messages.success if outcome.ok else messages.error)(request, outcome.detail)
    return redirect(job)


@staff_required
@require_POST
def add_daily_backup(request: HttpRequest, account_pk: int) -> HttpResponse:
    """One click from the account page: a daily backup job for this account."""
    account = get_object_or_404(Account, pk=account_pk)
    existing = Job.objects.filter(
        account=account, kind=Job.Kind.BACKUP, schedule=Job.Schedule.DAILY
    ).first()
    if existing is not None:
        messages.info(request, f"{account.name} already has a daily backup job.")
        return redirect(existing)
    # Spread accounts over the night so they do not all start at the same minute.
    minute = account.pk * 7 % 60
    job = Job.objects.create(
        name=free_job_name(f"Daily backup of {account.name}"),
        account=account,
        schedule=Job.Schedule.DAILY,
        time_of_day=dt.time(2, minute),
    )
    messages.success(request, f"Created {job.name!r}: every day at {job.time_of_day:%H:%M}.")
    return redirect(job)


@staff_required
def run_list(request: HttpRequest) -> HttpResponse:
    runs = JobRun.objects.select_related("job", "account")
    filters = {
        "account": request.GET.get("account", ""),
        "job": request.GET.get("job", ""),
        "state": request.GET.get("state", ""),
        "date": request.GET.get("date", ""),
    }
    if filters["account"].isdigit():
        runs = runs.filter(account_id=int(filters["account"]))
    if filters["job"].isdigit():
        runs = runs.filter(job_id=int(filters["job"]))
    if filters["state"] in JobRun.State.values:
        runs = runs.filter(state=filters["state"])
    try:
        day = dt.date.fromisoformat(filters["date"]) if filters["date"] else None
    except ValueError:
        day = None
    if day is not None:
        runs = runs.filter(queued_at__date=day)
    page = Paginator(runs, RUNS_PER_PAGE).get_page(request.GET.get("page"))
    query = urlencode({k: v for k, v in filters.items() if v})
    ctx = {
        "nav": "jobs",
        "page": page,
        "filters": filters,
        "query": query,
        "accounts": Account.objects.only("pk", "name"),
        "jobs": Job.objects.only("pk", "name"),
        "states": JobRun.State.choices,
    }
    return render(request, "jobs/history.html", ctx)


@staff_required
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = _get_run(pk)
    ctx = {"nav": "jobs", **_run_page_context(run), "resumed_by": run.resumed_by.all()}
    return render(request, "jobs/run.html", ctx)


def _run_page_context(run: JobRun, floor: int = 0) -> dict:
    failed = run.folders.filter(state="failed")
    return {**live.progress_context(run, floor), "failed_folders": failed}


@staff_required
@never_cache
def run_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The htmx-polled fragments: the progress section (dashboard), or with ?page=1 the run
    page's progress and log, plus its header when the state the page shows (?state=) is not
    the run's. Once the run ends they render without their trigger."""
    run = _get_run(pk)
    floor = live.parse_floor(request.GET.get("shown"))
    if not request.GET.get("page"):
        return render(request, "jobs/_progress.html", live.progress_context(run, floor))
    ctx = _run_page_context(run, floor)
    if request.GET.get("state", run.state) != run.state:  # the header the page shows is stale
        ctx |= {"header_changed": True, "resumed_by": run.resumed_by.all()}
    return render(request, "jobs/_run_live.html", ctx)


@staff_required
@never_cache
def active_runs(request: HttpRequest) -> HttpResponse:
    """The dashboard's "running now" section, refreshed so new runs show up by themselves."""
    runs = JobRun.objects.filter(state__in=JobRun.ACTIVE_STATES).select_related("job", "account")
    active = [live.progress_context(run) for run in runs.order_by("queued_at")]
    return render(request, "jobs/_active.html", {"active": active})


@staff_required
@require_POST
def run_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    run = _get_run(pk)
    audit.record(request, "run.cancel", run)
    if runner.cancel(run):
        messages.success(request, "Cancelling: the run stops after the current batch.")
    else:
        messages.info(request, "This run is not running any more.")
    return redirect(run)


@staff_required
@require_POST
def run_retry(request: HttpRequest, pk: int) -> HttpResponse:
    run = _get_run(pk)
    result = runner.retry_failed_folders(run)
    audit.record(request, "run.retry", run, started=result[0].pk if result else None)
    if result is None:
        messages.info(request, "No failed folders to retry.")
        return redirect(run)
    return redirect(result[0])


@staff_required
@require_POST
def run_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    """Take a run's mass-deletion warning off the dashboard's problems list (audited)."""
    run = _get_run(pk)
    if dashboard.acknowledge(run):
        audit.record(request, "run.acknowledge_warning", run, account=run.account_id)
        messages.success(request, f"Warning of run #{run.pk} acknowledged.")
    return redirect("dashboard")
