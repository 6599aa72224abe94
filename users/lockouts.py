"""Sign-ins locked out by django-axes, for the users page, and unlocking one (audited).

A username and address pair is locked while its failures reach LOGIN_FAILURE_LIMIT and its last
failure is younger than LOGIN_LOCKOUT_MINUTES; rows past that are history, not a lockout.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from axes.helpers import get_cool_off
from axes.models import AccessAttempt
from axes.utils import reset
from django.conf import settings
from django.shortcuts import get_object_or_404
from django.utils import timezone

import audit


@dataclass
class Lockout:
    pk: int
    username: str
    ip_address: str
    failures: int
    last_failure: dt.datetime
    until: dt.datetime | None  # None: until an administrator unlocks it


def locked_out(now: dt.datetime | None = None) -> list[Lockout]:
    now = now or timezone.now()
    cool_off = get_cool_off()
    attempts = AccessAttempt.objects.filter(failures_since_start__gte=settings.AXES_FAILURE_LIMIT)
    if cool_off:
        attempts = attempts.filter(attempt_time__gt=now - cool_off)
    return [
        Lockout(
            a.pk,
            a.username or "",
            a.ip_address or "",
            a.failures_since_start,
            a.attempt_time,
            a.attempt_time + cool_off if cool_off else None,
        )
        for a in attempts.order_by("-attempt_time")
    ]


def unlock(request, pk: int) -> str:
    """Forget the failures of one username and address pair; returns the username."""
    attempt = get_object_or_404(AccessAttempt, pk=pk)
    username, ip = attempt.username or "", attempt.ip_address or ""
    removed = reset(ip=ip or None, username=username or None)
    audit.record(request, "user.unlock", username, ip_address=ip, attempts=removed)
    return username
