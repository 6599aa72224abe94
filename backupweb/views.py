"""The dashboard and the health check."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache

from archive import stats
from backupweb import access
from backupweb.health import notes, run_checks
from jobs import charts
from jobs import dashboard as dashboard_data


def dashboard(request: HttpRequest) -> HttpResponse:
    if not access.is_staff_role(request.user):  # viewers: their granted archives only
        return redirect("archive:home")
    board = dashboard_data.build()
    per_day_messages, per_day_bytes = charts.per_day_charts()
    storage = stats.storage()
    message_count, archived_bytes = stats.archive_totals()  # as sent: the charts' basis
    ctx = {
        "nav": "dashboard",
        "board": board,
        "account_count": len(board.accounts),
        "message_count": message_count,
        "archived_bytes": archived_bytes,
        "bar_charts": [per_day_messages, per_day_bytes],
        "growth": charts.growth_chart(),
        "verifications": latest_verifications(),
        "storage": storage,
    }
    return render(request, "backupweb/dashboard.html", ctx)


def latest_verifications() -> list:
    """The newest finished "verify" run of each account (jobs/engine/verify.py), for the
    dashboard's "Backup verification" figures."""
    from jobs.models import Job, JobRun

    runs = (
        JobRun.objects.filter(job__kind=Job.Kind.VERIFY, state__in=JobRun.FINISHED_STATES)
        .select_related("account", "job")
        .order_by("account_id", "-finished_at", "-pk")
    )
    latest: dict[int, JobRun] = {}
    for run in runs.iterator():
        latest.setdefault(run.account_id, run)
    return sorted(latest.values(), key=lambda run: run.account.name)


@login_not_required
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    healthy, checks = run_checks()
    body = {"status": "ok" if healthy else "error", "checks": checks, "notes": notes()}
    return JsonResponse(body, status=200 if healthy else 503)
