from __future__ import annotations

import logging

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"

    def ready(self) -> None:
        from audit import signals  # noqa: F401  (logins, logouts, failures, lockouts)
        from audit.log import AuditLogHandler

        # Services that already log to "backupweb.audit" (key rotation, account deletion,
        # certificate pinning, OAuth2 sign-ins) land in the audit table too.
        logger = logging.getLogger("backupweb.audit")
        if not any(isinstance(h, AuditLogHandler) for h in logger.handlers):
            logger.addHandler(AuditLogHandler())
