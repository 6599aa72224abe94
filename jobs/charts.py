"""Server-rendered SVG charts: geometry computed here, drawn by templates (no script, no style=).

Bars: messages and bytes archived per day over the last 30 days (by first-seen time).
Lines: archive growth per account (cumulative bytes at the end of each day).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

DAYS = 30
WIDTH, HEIGHT, PAD = 600, 160, 24
# A palette that reads on light and dark backgrounds; SVG fill/stroke attributes are CSP-safe.
COLORS = ["#1095c1", "#d93526", "#398712", "#c27c00", "#8e44ad", "#5d6d7e", "#0a7d70", "#b03a2e"]


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass
class BarChart:
    title: str
    bars: list[Bar]
    max_label: str
    first_day: str
    last_day: str
    width: int = WIDTH
    height: int = HEIGHT
    baseline: float = HEIGHT - PAD


@dataclass
class Line:
    name: str
    color: str
    points: str  # SVG polyline points
    last_label: str


@dataclass
class LineChart:
    title: str
    lines: list[Line] = field(default_factory=list)
    max_label: str = ""
    first_day: str = ""
    last_day: str = ""
    width: int = WIDTH
    height: int = HEIGHT


def _days(today: dt.date) -> list[dt.date]:
    return [today - dt.timedelta(days=DAYS - 1 - i) for i in range(DAYS)]


def bar_chart(title: str, days: list[dt.date], values: dict, fmt) -> BarChart:
    top = max(values.values(), default=0) or 1
    slot = (WIDTH - 2 * PAD) / len(days)
    bars = []
    for i, day in enumerate(days):
        value = values.get(day, 0)
        height = (HEIGHT - 2 * PAD) * value / top
        bars.append(
            Bar(
                x=round(PAD + i * slot + 1, 1),
                y=round(HEIGHT - PAD - height, 1),
                width=round(max(slot - 2, 1), 1),
                height=round(height, 1),
                title=f"{day:%Y-%m-%d}: {fmt(value)}",
            )
        )
    return BarChart(title, bars, fmt(top if values else 0), f"{days[0]:%b %d}", f"{days[-1]:%b %d}")


def per_day_charts(today: dt.date | None = None) -> tuple[BarChart, BarChart]:
    from archive.models import Message

    today = today or timezone.localdate()
    days = _days(today)
    start = timezone.make_aware(dt.datetime.combine(days[0], dt.time.min))
    rows = (
        Message.objects.filter(first_seen_at__gte=start)
        .annotate(day=TruncDate("first_seen_at"))
        .values("day")
        .annotate(n=Count("pk"), b=Sum("size"))
    )
    counts = {r["day"]: r["n"] for r in rows}
    sizes = {r["day"]: r["b"] or 0 for r in rows}
    return (
        bar_chart("Messages archived per day", days, counts, lambda v: f"{v:,}"),
        bar_chart("Bytes archived per day", days, sizes, filesizeformat),
    )


def growth_chart(today: dt.date | None = None) -> LineChart:
    """Cumulative archived bytes per account at the end of each of the last 30 days."""
    from archive.models import Message

    today = today or timezone.localdate()
    days = _days(today)
    start = timezone.make_aware(dt.datetime.combine(days[0], dt.time.min))
    base = dict(
        Message.objects.filter(first_seen_at__lt=start)
        .values_list("folder__account__name")
        .annotate(b=Sum("size"))
    )
    daily: dict[str, dict[dt.date, int]] = {}
    rows = (
        Message.objects.filter(first_seen_at__gte=start)
        .annotate(day=TruncDate("first_seen_at"))
        .values_list("folder__account__name", "day")
        .annotate(b=Sum("size"))
    )
    for name, day, size in rows:
        daily.setdefault(name, {})[day] = size or 0
    series = {}
    for name in sorted(set(base) | set(daily)):
        total, points = base.get(name) or 0, []
        for day in days:
            total += daily.get(name, {}).get(day, 0)
            points.append(total)
        series[name] = points
    return _line_chart("Archive growth per account", days, series)


def _line_chart(title: str, days: list[dt.date], series: dict[str, list[int]]) -> LineChart:
    chart = LineChart(title, first_day=f"{days[0]:%b %d}", last_day=f"{days[-1]:%b %d}")
    top = max((max(p) for p in series.values()), default=0) or 1
    chart.max_label = filesizeformat(top)
    step = (WIDTH - 2 * PAD) / max(len(days) - 1, 1)
    for i, (name, values) in enumerate(series.items()):
        points = " ".join(
            f"{PAD + j * step:.1f},{HEIGHT - PAD - (HEIGHT - 2 * PAD) * v / top:.1f}"
            for j, v in enumerate(values)
        )
        color = COLORS[i % len(COLORS)]
        chart.lines.append(Line(name, color, points, filesizeformat(values[-1])))
    return chart
