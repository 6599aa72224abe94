"""Helpers for the API tests: tokens for the named actors and clients that send them."""

from __future__ import annotations

import datetime as dt
import time

from django.test import Client
from django.utils import timezone

from users import api_tokens
from users.models import ApiToken


def make_token(user, scope: str = "read", *, expired: bool = False, revoked: bool = False) -> str:
    row, token = api_tokens.create(user, scope, days=30)
    if expired:
        ApiToken.objects.filter(pk=row.pk).update(expires_at=timezone.now() - dt.timedelta(1))
    if revoked:
        api_tokens.revoke(row)
    return token


def api_client(token: str | None = None) -> Client:
    """A client that sends `Authorization: Bearer <token>` (none: an anonymous client)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return Client(headers=headers, raise_request_exception=True)


def start_of_a_rate_window(seconds: int = 60, margin: float = 3.0) -> None:
    """Wait out the end of the current rate-limit window (backupweb.ratelimit counts per
    window), so a test's few requests all fall in one."""
    left = seconds - time.time() % seconds
    if left < margin:
        time.sleep(left + 0.05)
