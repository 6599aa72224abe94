"""Small formatting helpers for run pages: counts, rates and time left (times: local_times)."""

from __future__ import annotations

import datetime as dt

from django import template
from django.template.defaultfilters import filesizeformat

register = template.Library()


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
