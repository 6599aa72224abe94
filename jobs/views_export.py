"""Background exports from the archive pages: start one, watch its progress, download the file.

Starting one takes exactly what the streamed export (`archive:export`) takes and applies the same
access rules (viewers: their granted accounts, 404 outside them). It creates a one-off export job
with a manual schedule and queues its run; `jobs.engine.export` does the work on a worker.
"""

from __future__ import annotations

import uuid

from django.contrib import messages as flash
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache

import audit
from archive.export import FORMATS
from archive.safenames import safe_component
from archive.viewer import set_download_headers
from archive.views import accounts_for_user, get_account_for_user, get_folder_for_user
from archive.views_transfer import export_selection, int_or_404
from backupweb.access import is_staff_role
from jobs import runner
from jobs.engine import export as export_job
from jobs.models import Job, JobRun


def export_background(request: HttpRequest) -> HttpResponse:
    """POST: queue an export job of an account, a folder, a selection or a search result."""
    data = request.POST if request.method == "POST" else request.GET
    fmt = data.get("fmt", "eml")
    if fmt not in FORMATS:
        raise Http404("Unknown format.")
    messages, label = export_selection(request)  # the streamed export's checks: 404 outside
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    options = _options(request, messages, label, fmt)
    if options is None:
        flash.error(request, "Nothing to export: select at least one message.")
        return redirect(_back(request))
    run = _queue(options)
    audit.record(
        request, "archive.export", label, scope=options["scope"], format=fmt,
        background=True, run=run.pk, account=run.account_id,
    )  # fmt: skip
    flash.success(request, "The export runs in the background; its download link appears here.")
    if is_staff_role(request.user):
        return redirect(run)  # the run page: live progress, log, cancel
    return redirect("jobs:export-run", pk=run.pk)


def _options(request: HttpRequest, messages, label: str, fmt: str) -> dict | None:
    """The job options for the request's scope; None when a selection is empty."""
    data = request.POST
    scope = data.get("scope", "")
    common = {"scope": scope, "fmt": fmt, "label": label}
    if scope == "account":
        account = get_account_for_user(request.user, int_or_404(data.get("account")))
        return export_job.scope_options(**common, account_ids=[account.pk])
    if scope == "folder":
        folder = get_folder_for_user(request.user, int_or_404(data.get("folder")))
        return export_job.scope_options(
            **common, account_ids=[folder.account_id], folders=[folder.name]
        )
    ids = list(messages.order_by("pk").values_list("pk", flat=True))
    if not ids:
        return None
    accounts = messages.order_by().values_list("folder__account_id", flat=True).distinct()
    return export_job.scope_options(**common, account_ids=list(accounts), message_ids=ids)


def _queue(options: dict) -> JobRun:
    """A one-off export job (manual schedule, no notifications) and its queued run."""
    label = options["label"]
    job = Job.objects.create(
        name=f"Export of {label[:150]} ({uuid.uuid4().hex[:8]})",
        kind=Job.Kind.EXPORT,
        account_id=options["account_ids"][0],
        options=options,
        schedule=Job.Schedule.MANUAL,
        notify_on_failure=False,
        notify_on_parked=False,
        notify_on_auth_failure=False,
    )
    run, _ = runner.trigger(job, JobRun.Trigger.MANUAL)
    return run


def _back(request: HttpRequest) -> str:
    referer = request.META.get("HTTP_REFERER", "")
    allowed = url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return referer if referer and allowed else "archive:home"


def get_export_run_for_user(user, pk: int) -> JobRun:
    """An export run whose every account the user may see, or 404 (exists or not alike)."""
    run = (
        JobRun.objects.select_related("job", "account")
        .filter(pk=pk, job__kind=Job.Kind.EXPORT)
        .first()
    )
    if run is None:
        raise Http404("No such export.")
    ids = {int(i) for i in (run.job.options or {}).get("account_ids") or []} | {run.account_id}
    if accounts_for_user(user).filter(pk__in=ids).count() != len(ids):
        raise Http404("No such export.")
    return run


@never_cache
def export_run(request: HttpRequest, pk: int) -> HttpResponse:
    """A background export's progress (polled while it runs) and, once done, its download."""
    run = get_export_run_for_user(request.user, pk)
    context = {"nav": "archive", "run": run, "available": _available(run)}
    if request.headers.get("HX-Request"):
        return render(request, "archive/_export_run.html", context)
    return render(request, "archive/export_run.html", context)


def _available(run: JobRun) -> bool:
    return run.state == JobRun.State.SUCCEEDED and export_job.export_path(run.pk).is_file()


def export_download(request: HttpRequest, pk: int) -> HttpResponse:
    """The finished export's zip, streamed from disk as an attachment."""
    run = get_export_run_for_user(request.user, pk)
    if run.state != JobRun.State.SUCCEEDED:
        raise Http404("This export has not finished.")
    try:
        handle = export_job.export_path(run.pk).open("rb")
    except FileNotFoundError:
        context = {"nav": "archive", "run": run, "available": False, "expired": True}
        return render(request, "archive/export_run.html", context, status=410)
    options = run.job.options or {}
    audit.record(
        request, "archive.export.download", run, account=run.account_id,
        scope=options.get("scope", ""), format=options.get("fmt", "eml"),
    )  # fmt: skip
    response = FileResponse(handle, content_type="application/zip")
    suffix = "-mbox" if options.get("fmt") == "mbox" else ""
    name = safe_component(f"{options.get('label') or 'export'}{suffix}")
    set_download_headers(response, f"{name}.zip")
    return response
