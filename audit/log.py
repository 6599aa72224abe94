"""Writing audit events: `record()` for views and services, a logging handler for services that
already log to "backupweb.audit", and the retention purge.

An event never holds a secret: detail keys that name one are dropped, and log messages are
passed through the same redaction as the stdout log.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
from typing import Any

from django.conf import settings
from django.db import models
from django.http import HttpRequest
from django.utils import timezone

from audit.models import AuditEvent
from backupweb.logs import redact
from sitesettings.values import site_settings

logger = logging.getLogger("backupweb.auditlog")  # not "backupweb.audit": no loop via the handler
SECRET_WORDS = ("password", "secret", "token", "key", "otp")


def record(who: Any, action: str, target: Any = None, **details: Any) -> AuditEvent | None:
    """Record that `who` (a request, a user, a label such as "cli", or None for the system) did
    `action` ("account.create", "message.open", ...) to `target` (a model instance or text).

    `account=` (an Account or its id) says which account the event concerns when the target
    does not. Never raises: an audit failure is logged, the user's action goes on.
    """
    try:
        event = AuditEvent(action=action[:60], **_actor(who), **_target(target))
        account = details.pop("account", None)
        if account is not None:
            event.account_id = getattr(account, "pk", account)
        event.details = _clean(details)
        event.save()
    except Exception:  # the action happened; losing its record must not undo it
        logger.exception("could not record audit event %s", action)
        return None
    logger.info("%s %s %s", event.actor or "system", event.action, event.target)
    return event


def client_ip(request: HttpRequest) -> str | None:
    """REMOTE_ADDR, or the address the trusted proxy put last in X-Forwarded-For."""
    address = request.META.get("REMOTE_ADDR", "")
    if getattr(settings, "AUDIT_TRUST_X_FORWARDED_FOR", False):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            address = forwarded.split(",")[-1].strip()
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


def _actor(who: Any) -> dict[str, Any]:
    if isinstance(who, HttpRequest):
        user = getattr(who, "user", None)
        fields = _actor(user if user is not None and user.is_authenticated else None)
        return {**fields, "ip": client_ip(who)}
    if who is None:
        return {}
    if isinstance(who, str):
        return {"actor": who[:150]}
    return {"actor_id": who.pk, "actor": who.get_username()[:150]}


def _target(target: Any) -> dict[str, Any]:
    if target is None:
        return {}
    if not isinstance(target, models.Model):
        return {"target": str(target)[:500]}
    return {
        "target_type": target._meta.label_lower[:60],
        "target_id": str(target.pk)[:64],
        "target": str(target)[:500],
        "account_id": _account_of(target),
    }


def _account_of(obj: models.Model) -> int | None:
    if obj._meta.label_lower == "accounts.account":
        return obj.pk
    if getattr(obj, "account_id", None) is not None:
        return obj.account_id
    folder = getattr(obj, "folder", None)  # archive messages: account through their folder
    return getattr(folder, "account_id", None)


def _clean(details: dict[str, Any]) -> dict[str, Any]:
    cleaned = {}
    for key, value in details.items():
        if any(word in key.lower() for word in SECRET_WORDS):
            continue
        if isinstance(value, list | tuple | set):
            value = [v if isinstance(v, int | float | bool) else str(v) for v in value]
        elif not isinstance(value, int | float | bool | type(None)):
            value = str(value)[:2000]
        cleaned[key] = value
    return cleaned


class AuditLogHandler(logging.Handler):
    """Copies records of the "backupweb.audit" logger (key rotation, account deletion,
    certificate pinning, OAuth2 sign-in) into the audit table."""

    def emit(self, rec: logging.LogRecord) -> None:
        try:
            message = redact(rec.getMessage())
            action = getattr(rec, "audit_action", "") or _action_of(message)
            record(
                getattr(rec, "audit_actor", None),
                action,
                None,
                account=getattr(rec, "account_id", None),
                message=message[:2000],
                level=rec.levelname,
            )
        except Exception:  # noqa: BLE001 - logging must never raise into the caller
            self.handleError(rec)


def _action_of(message: str) -> str:
    text = message.lower()
    for words, action in (
        ("key rotation", "keys.rotate"),
        ("pinned certificate", "account.pin_certificate"),
        ("oauth2 sign-in removed", "account.oauth_sign_out"),
        ("oauth2 sign-in stored", "account.oauth_sign_in"),
        ("re-authorisation", "account.needs_reauth"),
        ("deleted by", "account.delete"),
    ):
        if words in text:
            return action
    return "service.event"


def purge(days: int | None = None) -> int:
    """Remove events older than the retention (AUDIT_RETENTION_DAYS; 0 keeps everything)."""
    days = site_settings().audit_retention_days if days is None else days
    if days <= 0:
        return 0
    removed = AuditEvent.purge_before(timezone.now() - dt.timedelta(days=days))
    if removed:
        record("system", "audit.purge", None, removed=removed, retention_days=days)
    return removed
