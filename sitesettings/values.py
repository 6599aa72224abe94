"""`site_settings()`: the values in force, the database's where an administrator set one,
else the environment's. Every reader of these settings goes through it.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass, field

from django.conf import settings
from django.utils import timezone

from sitesettings.models import SiteSettings


@dataclass(frozen=True)
class Email:
    """Outgoing mail: an empty host means the environment's EMAIL_URL."""

    host: str = ""
    port: int | None = None
    security: str = ""
    username: str = ""
    password: str = field(default="", repr=False)
    sender: str = ""


@dataclass(frozen=True)
class Values:
    notify_urls: list[str]
    time_zone: str
    import_dir: str
    export_retention_days: int
    audit_retention_days: int
    email: Email


def environment() -> Values:
    """The environment's values: the defaults the page shows beside each field."""
    return Values(
        notify_urls=list(settings.NOTIFY_URLS),
        time_zone=settings.TIME_ZONE,
        import_dir=getattr(settings, "IMPORT_DIR", "") or "",
        export_retention_days=settings.EXPORT_RETENTION_DAYS,
        audit_retention_days=settings.AUDIT_RETENTION_DAYS,
        email=Email(sender=settings.DEFAULT_FROM_EMAIL),
    )


def site_settings(row: SiteSettings | None = None) -> Values:
    env = environment()
    row = row or SiteSettings.objects.filter(pk=1).first()
    if row is None:
        return env
    return Values(
        notify_urls=row.get_secret("notify_urls").split() or env.notify_urls,
        time_zone=row.time_zone or env.time_zone,
        import_dir=row.import_dir or env.import_dir,
        export_retention_days=_number(row.export_retention_days, env.export_retention_days),
        audit_retention_days=_number(row.audit_retention_days, env.audit_retention_days),
        email=_email(row, env.email),
    )


def _number(value: int | None, default: int) -> int:
    return default if value is None else value


def _email(row: SiteSettings, env: Email) -> Email:
    if not row.email_host:
        return Email(sender=row.email_from or env.sender)
    return Email(
        host=row.email_host,
        port=row.email_port,
        security=row.email_security,
        username=row.email_username,
        password=row.get_secret("email_password"),
        sender=row.email_from or env.sender,
    )


def time_zone() -> str:
    """The site's time zone name alone (read on every request: no secret is decrypted)."""
    stored = SiteSettings.objects.filter(pk=1).values_list("time_zone", flat=True).first()
    return stored or settings.TIME_ZONE


def site_zone() -> zoneinfo.ZoneInfo:
    """The site's time zone; the environment's if the stored name is unknown to this system."""
    try:
        return zoneinfo.ZoneInfo(time_zone())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def local_now(zone: dt.tzinfo | None = None) -> dt.datetime:
    """Now in the site's time zone, for lines written outside a request (a worker's run log)."""
    return timezone.localtime(timezone=zone or site_zone())
