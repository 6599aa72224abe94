"""Small formatting helpers for run pages: counts, rates, time left and local times."""

from __future__ import annotations

import datetime as dt

from django import template
from django.template.defaultfilters import filesizeformat
from django.utils import dateformat, timezone
from django.utils.html import format_html

register = template.Library()

# Local time with its zone: settings.TIME_ZONE (the TIME_ZONE environment setting).
LOCAL_FORMAT = "Y-m-d H:i T"


@register.filter
def rate(bytes_per_second: float | None) -> str:
    if not bytes_per_second:
        return ""
    return f"{filesizeformat(bytes_per_second)}/s"


@register.filter
def per_second(value: float | None) -> str:
    """Messages per second: one decimal below ten, whole numbers above."""
    if not value:
        return ""
    return f"{value:.1f}" if value < 10 else f"{value:,.0f}"


@register.filter
def count(value: int | None) -> str:
    """A count with thousands separators ("2,380")."""
    return f"{value or 0:,}"


@register.filter
def eta(left: dt.timedelta | None) -> str:
    """A time span as "42 s", "3 min 05 s" or "2 h 07 min" (time left, or a run's duration)."""
    if left is None:
        return ""
    seconds = int(left.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


@register.filter
def local(when: dt.datetime | None, fmt: str = LOCAL_FORMAT) -> str:
    """An aware time in the site's time zone, with the zone's name ("2026-12-05 07:14 CET")."""
    if when is None:
        return ""
    return dateformat.format(timezone.localtime(when), fmt)


@register.simple_tag
def local_time(when: dt.datetime | None, fmt: str = LOCAL_FORMAT):
    """A <time> element: machine-readable UTC instant, local time with its zone as the text."""
    if when is None:
        return ""
    return format_html('<time datetime="{}">{}</time>', when.isoformat(), local(when, fmt))
