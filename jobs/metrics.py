"""/metrics: Prometheus metrics read from the database at scrape time (prometheus-client).

`ArchiveCollector` reads the figures when Prometheus scrapes, so every web process answers
the same; it is registered on a private registry, never the client's global one (which would
add the web process's own Python metrics). Access: logged-in administrators and operators, and,
when settings.METRICS_TOKEN is set, scrapers sending `Authorization: Bearer <token>`. Without a
token it is never public.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterator

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db.models import Count, Max, Sum
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

from accounts.models import Account
from archive.models import Folder
from backupweb.access import is_staff_role
from backupweb.redis import get_redis
from jobs.models import Job, JobRun

logger = logging.getLogger(__name__)
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
CELERY_QUEUE = "celery"


def queue_length() -> int | None:
    """Messages waiting in the Celery queue (kombu keeps priority sub-queues beside it)."""
    try:
        client = get_redis()
        keys = [CELERY_QUEUE, *(f"{CELERY_QUEUE}\x06\x16{p}" for p in range(1, 10))]
        return sum(client.llen(k) for k in keys)
    except Exception as exc:  # Redis away: report the rest, and say so in the log
        logger.warning("metrics: queue length unavailable: %s", exc)
        return None


def last_success(kind: str) -> dict[int, float]:
    """Unix time of the last successful run of `kind` per account id."""
    runs = JobRun.objects.filter(state=JobRun.State.SUCCEEDED, job__kind=kind)
    latest = runs.values("account_id").annotate(t=Max("finished_at"))
    return {r["account_id"]: int(r["t"].timestamp()) for r in latest if r["t"]}


class ArchiveCollector(Collector):
    """The gauges of /metrics, read from the database at each scrape."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        names = dict(Account.objects.values_list("pk", "name"))
        yield self.runs()
        yield from self.archived(names)
        for name, kind, what in (
            ("backupweb_last_success_timestamp_seconds", Job.Kind.BACKUP, "backup"),
            ("backupweb_last_verify_timestamp_seconds", Job.Kind.VERIFY, "verify"),
        ):
            help_text = f"Unix time of the last successful {what} run per account."
            yield _per_account(name, help_text, names, last_success(kind))
        queued = queue_length()
        if queued is not None:
            yield GaugeMetricFamily("backupweb_queue_length", "Celery messages waiting.", queued)

    def runs(self) -> GaugeMetricFamily:
        by_state = dict(JobRun.objects.values_list("state").annotate(n=Count("pk")))
        family = GaugeMetricFamily("backupweb_runs", "Job runs by state.", labels=["state"])
        for state in JobRun.State.values:
            family.add_metric([state], by_state.get(state, 0))
        return family

    def archived(self, names: dict[int, str]) -> Iterator[GaugeMetricFamily]:
        rows = Folder.objects.values("account_id").annotate(
            n=Sum("message_count"), b=Sum("total_bytes")
        )
        messages = {r["account_id"]: r["n"] or 0 for r in rows}
        sizes = {r["account_id"]: r["b"] or 0 for r in rows}
        yield _per_account(
            "backupweb_archived_messages", "Messages archived per account.", names, messages
        )
        yield _per_account(
            "backupweb_archived_bytes",
            "Bytes archived per account (raw message sizes).",
            names,
            sizes,
        )


def _per_account(
    name: str, help_text: str, names: dict[int, str], values: dict[int, float]
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, help_text, labels=["account"])
    for account_id, value in values.items():
        family.add_metric([names.get(account_id, "?")], value)
    return family


REGISTRY = CollectorRegistry()
REGISTRY.register(ArchiveCollector())  # no describe(): nothing is read until a scrape


def render_metrics() -> bytes:
    return generate_latest(REGISTRY)


def _authorized(request: HttpRequest) -> bool:
    if request.user.is_authenticated:  # every account's figures: administrators and operators
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
