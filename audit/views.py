"""The audit log page (administrators): filters, pages, and the same selection as CSV."""

from __future__ import annotations

import csv
import datetime as dt
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

import audit
from audit.models import AuditEvent
from backupweb.access import administrator_required

PER_PAGE = 100
FILTERS = ("actor", "action", "account", "ip", "since", "until", "q")
CSV_COLUMNS = ["at", "actor", "ip", "action", "target_type", "target_id", "target", "account_id"]


def _day(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        return None


def filtered(params) -> tuple[QuerySet, dict[str, str]]:
    """The events matching the page's filters (all optional)."""
    values = {name: params.get(name, "").strip() for name in FILTERS}
    events = AuditEvent.objects.all()
    if values["actor"]:
        events = events.filter(actor__iexact=values["actor"])
    if values["action"]:
        events = events.filter(action__startswith=values["action"])
    if values["account"].isdigit():
        events = events.filter(account_id=int(values["account"]))
    if values["ip"]:
        events = events.filter(ip=values["ip"])
    tz = timezone.get_current_timezone()
    if since := _day(values["since"]):
        events = events.filter(at__gte=dt.datetime.combine(since, dt.time(), tz))
    if until := _day(values["until"]):
        events = events.filter(at__lt=dt.datetime.combine(until + dt.timedelta(1), dt.time(), tz))
    if values["q"]:
        events = events.filter(target__icontains=values["q"])
    return events, values


@administrator_required
def event_list(request: HttpRequest) -> HttpResponse:
    events, values = filtered(request.GET)
    page = Paginator(events, PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "nav": "audit",
        "page": page,
        "filters": values,
        "query": urlencode({k: v for k, v in values.items() if v}),
        "actions": AuditEvent.objects.order_by("action")
        .values_list("action", flat=True)
        .distinct(),
    }
    return render(request, "audit/list.html", context)


class _Echo:
    def write(self, value: str) -> str:
        return value


@administrator_required
def event_csv(request: HttpRequest) -> HttpResponse:
    events, values = filtered(request.GET)
    chosen = {k: v for k, v in values.items() if v}
    audit.record(request, "audit.export", None, filters=str(chosen))
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow([*CSV_COLUMNS, "details"])
        for event in events.iterator(chunk_size=2000):
            cells = [getattr(event, c) for c in CSV_COLUMNS]
            cells[0] = event.at.isoformat()
            yield writer.writerow([_cell(c) for c in cells] + [_cell(event.details)])

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    return response


def _cell(value) -> str:
    """Text for a CSV cell; a leading =, +, - or @ would be a formula in a spreadsheet."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
