"""/metrics in the Prometheus text format, written by hand (a handful of gauges).

Access: logged-in users, and, when settings.METRICS_TOKEN is set, scrapers sending
`Authorization: Bearer <token>`. Without a token it is never public.
"""

from __future__ import annotations

import hmac
import logging

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db.models import Count, Max, Sum
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache

from accounts.models import Account
from jobs.models import JobRun

logger = logging.getLogger(__name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
CELERY_QUEUE = "celery"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _family(name: str, kind: str, help_text: str, samples: list[tuple[dict, float]]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        text = ",".join(f'{k}="{_label(str(v))}"' for k, v in labels.items())
        lines.append(f"{name}{{{text}}} {value}" if text else f"{name} {value}")
    return lines


def queue_length() -> int | None:
    """Messages waiting in the Celery queue (kombu keeps priority sub-queues beside it)."""
    from backupweb.redis import get_redis

    try:
        client = get_redis()
        keys = [CELERY_QUEUE, *(f"{CELERY_QUEUE}\x06\x16{p}" for p in range(1, 10))]
        return sum(client.llen(k) for k in keys)
    except Exception as exc:  # Redis away: report the rest, and say so in the log
        logger.warning("metrics: queue length unavailable: %s", exc)
        return None


def render_metrics() -> str:
    from archive.models import Folder

    by_state = dict(JobRun.objects.values_list("state").annotate(n=Count("pk")))
    names = dict(Account.objects.values_list("pk", "name"))
    archived = Folder.objects.values("account_id").annotate(
        n=Sum("message_count"), b=Sum("total_bytes")
    )
    success = JobRun.objects.filter(state=JobRun.State.SUCCEEDED).values("account_id")
    success = success.annotate(t=Max("finished_at"))
    lines = _family(
        "backupweb_runs",
        "gauge",
        "Job runs by state.",
        [({"state": s}, by_state.get(s, 0)) for s in JobRun.State.values],
    )
    acct = [(r, {"account": names.get(r["account_id"], "?")}) for r in archived]
    lines += _family(
        "backupweb_archived_messages",
        "gauge",
        "Messages archived per account.",
        [(labels, r["n"] or 0) for r, labels in acct],
    )
    lines += _family(
        "backupweb_archived_bytes",
        "gauge",
        "Bytes archived per account (raw message sizes).",
        [(labels, r["b"] or 0) for r, labels in acct],
    )
    lines += _family(
        "backupweb_last_success_timestamp_seconds",
        "gauge",
        "Unix time of the last successful run per account.",
        [
            ({"account": names.get(r["account_id"], "?")}, int(r["t"].timestamp()))
            for r in success
            if r["t"]
        ],
    )
    queued = queue_length()
    if queued is not None:
        lines += _family(
            "backupweb_queue_length", "gauge", "Celery messages waiting.", [({}, queued)]
        )
    return "\n".join(lines) + "\n"


def _authorized(request: HttpRequest) -> bool:
    if request.user.is_authenticated:  # every account's figures: administrators and operators
        from backupweb.access import is_staff_role

        return is_staff_role(request.user)
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(header.encode(), f"Bearer {token}".encode())


@login_not_required
@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not _authorized(request):
        response = HttpResponse("Unauthorized\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(render_metrics(), content_type=CONTENT_TYPE)
