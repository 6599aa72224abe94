"""Every page in the site's time zone (the settings page's, else TIME_ZONE), chosen per request
so a change shows on the next page without a restart."""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from sitesettings.values import site_zone


class TimeZoneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        timezone.activate(_zone())
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


def _zone() -> zoneinfo.ZoneInfo:
    try:
        return site_zone()
    except DatabaseError:  # /healthz must still answer (503) when the database is down
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)
