"""Times as the admin reads them: in the site's time zone (the TIME_ZONE setting), with its name.

Aware datetimes are stored in UTC; a page that printed them bare left the reader to guess the
zone. Every page loads these instead of formatting times itself.
"""

from __future__ import annotations

import datetime as dt

from django import template
from django.utils import dateformat, timezone
from django.utils.html import format_html

register = template.Library()

LOCAL_FORMAT = "Y-m-d H:i T"


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
