"""Sync, restore and bulk-migration pages: thin shells over jobs.engine.sync.preflight, jobs.kinds
and jobs.bulk."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

import audit
from backupweb.access import staff_required
from jobs import bulk as bulk_module
from jobs import kinds, runner
from jobs.engine.sync.preflight import preflight
from jobs.forms_transfer import BulkForm, RestoreJobForm
from jobs.models import BulkMigration, Job, JobRun, free_job_name
from jobs.views import get_job
from mail.errors import EngineError


def _transfer_job(pk: int) -> Job:
    job = get_job(pk)
    if job.kind not in (Job.Kind.SYNC, Job.Kind.RESTORE):
        raise Http404("Not a sync or restore job.")
    return job


@staff_required
def job_preflight(request: HttpRequest, pk: int) -> HttpResponse:
    """Login on both sides, capabilities, sizes, quota and the predicted folder mapping."""
    job = _transfer_job(pk)
    if job.kind != Job.Kind.SYNC:
        return redirect("jobs:dry-run", pk=job.pk)
    report = preflight(job.account, job.destination, kinds.sync_options(job.options))
    ctx = {
        "nav": "jobs",
        "job": job,
        "report": report,
        "sides": [report.source, report.destination],
        "sizes": {s.name: s for s in report.sizes},
        "first_run": not job.runs.exists(),
    }
    return render(request, "jobs/preflight.html", ctx)


@staff_required
def job_dry_run(request: HttpRequest, pk: int) -> HttpResponse:
    """Folders to create and messages to copy per folder; nothing changes anywhere."""
    job = _transfer_job(pk)
    report, error = None, ""
    if request.method == "POST":
        try:
            report = kinds.dry_run_job(job)
        except EngineError as exc:
            error = str(exc)
    ctx = {"nav": "jobs", "job": job, "report": report, "error": error}
    return render(request, "jobs/dry_run.html", ctx | dry_run_totals(report))


def dry_run_totals(report) -> dict:
    """What the page's summary line says, in the units the table uses: the engine's line
    rounds to tenths of a MB, so a restore of a few small messages read "(0.0 MB)"."""
    if report is None:
        return {}
    folders = report.copied_folders
    return {
        "to_create": sum(f.create for f in folders),
        "to_copy": sum(f.to_copy for f in folders),
        "to_copy_bytes": sum(f.to_copy_bytes for f in folders),
    }


@staff_required
def restore_new(request: HttpRequest) -> HttpResponse:
    """A restore job from an archived account, its folders, a selection or a search result.

    Links from the archive pass `account`, and `message` ids (a selection or the ids of a search
    result) or `folder` names."""
    account = request.GET.get("account", "")
    ids = [i for i in request.GET.getlist("message") if i.isdigit()]
    if request.GET.get("q") and account.isdigit():
        ids += [str(i) for i in search_result_ids(int(account), request.GET["q"])]
    initial = {
        "account": account,
        "name": free_job_name(f"Restore {timezone.localdate():%Y-%m-%d}"),
        "message_ids": ",".join(ids),
        "folders": "\n".join(request.GET.getlist("folder")),
    }
    form = RestoreJobForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        job = form.save()
        audit.record(request, "restore.create", job, destination=str(job.destination))
        if request.POST.get("run_now"):
            run, _ = runner.trigger(job, JobRun.Trigger.MANUAL)
            audit.record(request, "run.start", run, job=job.name, kind=job.kind)
            return redirect(run)
        messages.success(request, f"Restore job {job.name!r} created.")
        return redirect(job)
    ctx = {
        "nav": "jobs",
        "form": form,
        "time_zone": timezone.get_current_timezone_name(),
        "selection": len(ids),
    }
    return render(request, "jobs/form.html", ctx)


SEARCH_RESTORE_LIMIT = 10_000


def search_result_ids(account_id: int, words: str) -> list[int]:
    """The ids of an archive search's results in one account (all pages, up to a limit).
    `words`: the search box's text, operators and all."""
    from archive.query_language import QueryError, parse
    from archive.search import search

    try:
        query = parse(words)
    except QueryError:
        return []
    query.account_id, ids, after = account_id, [], None
    while len(ids) < SEARCH_RESTORE_LIMIT:
        page = search(query, after=after, per_page=500)
        ids += [hit.message.pk for hit in page.hits]
        if page.next_after is None:
            break
        after = page.next_after
    return ids[:SEARCH_RESTORE_LIMIT]


# -- bulk migrations -------------------------------------------------------------------------


def _get_bulk(pk: int) -> BulkMigration:
    return get_object_or_404(BulkMigration, pk=pk)


@staff_required
def bulk_list(request: HttpRequest) -> HttpResponse:
    bulks = BulkMigration.objects.all()
    return render(request, "jobs/bulk_list.html", {"nav": "jobs", "bulks": bulks})


@staff_required
def bulk_new(request: HttpRequest) -> HttpResponse:
    form = BulkForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        options = {"mirror_deletions": bool(data["mirror_deletions"])}
        try:
            bulk = bulk_module.create(
                data["file"].read(), data["name"], data["concurrency"], options
            )
        except bulk_module.BulkFileError as exc:
            form.add_error("file", str(exc))
        else:
            messages.success(request, f"{bulk.rows.count()} rows read; start them when ready.")
            return redirect(bulk)
    return render(request, "jobs/bulk_form.html", {"nav": "jobs", "form": form})


def _rows(bulk: BulkMigration) -> list:
    rows = list(bulk.rows.select_related("job"))
    for row in rows:
        row.status = bulk_module.status(row)
    return rows


@staff_required
def bulk_detail(request: HttpRequest, pk: int) -> HttpResponse:
    bulk = _get_bulk(pk)
    rows = _rows(bulk)
    ctx = {"nav": "jobs", "bulk": bulk, "rows": rows, **_counts(rows)}
    return render(request, "jobs/bulk_detail.html", ctx)


@staff_required
@never_cache
def bulk_rows(request: HttpRequest, pk: int) -> HttpResponse:
    """The htmx-polled table of row statuses."""
    bulk = _get_bulk(pk)
    rows = _rows(bulk)
    ctx = {"bulk": bulk, "rows": rows, **_counts(rows)}
    return render(request, "jobs/_bulk_rows.html", ctx)


def _counts(rows: list) -> dict:
    states = [row.status.state for row in rows]
    return {
        "counts": {s: states.count(s) for s in ("pending", "running", "done", "failed")},
        "active": any(s == "running" for s in states) or any(r.waiting for r in rows),
    }


@staff_required
@require_POST
def bulk_start(request: HttpRequest, pk: int) -> HttpResponse:
    bulk = _get_bulk(pk)
    count = bulk_module.start(bulk, only_failed=request.POST.get("failed") == "1")
    what = "failed rows" if request.POST.get("failed") == "1" else "rows"
    messages.success(request, f"{count} {what} queued, {bulk.concurrency} at a time.")
    return redirect(bulk)


@staff_required
def bulk_template(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(bulk_module.template_csv(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="bulk-migration.csv"'
    return response
