from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from accounts.models import Account
from backupweb.health import run_checks


def dashboard(request: HttpRequest) -> HttpResponse:
    ctx = {
        "nav": "dashboard",
        "account_count": Account.objects.count(),
        "message_count": 0,
        "archived_bytes": 0,
    }
    return render(request, "backupweb/dashboard.html", ctx)


@login_not_required
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    healthy, checks = run_checks()
    body = {"status": "ok" if healthy else "error", "checks": checks}
    return JsonResponse(body, status=200 if healthy else 503)
