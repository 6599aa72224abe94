"""What views and commands do with accounts, so they stay thin shells."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from accounts.models import Account
from accounts.signals import account_deleting
from mail.probe import ConnectionReport, test_connection

log = logging.getLogger("backupweb.audit")


def run_test(account: Account) -> ConnectionReport:
    """Test the connection; a saved account remembers the outcome and the capabilities."""
    report = test_connection(account)
    if account.pk:
        fields = {"last_tested_at": timezone.now(), "last_test_ok": report.ok}
        if report.ok:
            fields["capabilities"] = report.capabilities
        Account.objects.filter(pk=account.pk).update(**fields)
    return report


def pin_certificate(account: Account, fingerprint: str, user: str) -> None:
    account.tls_fingerprint = fingerprint
    account.save(update_fields=["tls_fingerprint", "updated_at"])
    log.info(
        "pinned certificate %s for account %r by %s",
        fingerprint,
        account.name,
        user,
        extra={"account_id": account.pk},
    )


def delete_account(account: Account, delete_archive: bool, user: str) -> None:
    """Delete an account; its archive is kept unless `delete_archive`.

    Keeping the archive means retiring the account: archive rows point at it, so the row stays,
    leaves the account list, loses its password, and frees its name for a new account.
    """
    with transaction.atomic():
        account_deleting.send(sender=Account, account=account, delete_archive=delete_archive)
        log.info(
            "account %r deleted by %s; archive %s",
            account.name,
            user,
            "deleted" if delete_archive else "kept",
            extra={"account_id": account.pk},
        )
        if delete_archive:
            account.delete()
            return
        now = timezone.now()
        suffix = f" (deleted {now:%Y-%m-%d %H:%M:%S})"
        account.name = account.name[: 200 - len(suffix)] + suffix
        account.secret_encrypted = ""
        account.oauth_refresh_encrypted = account.oauth_access_encrypted = ""
        account.retired_at = now
        account.save(
            update_fields=[
                "name",
                "secret_encrypted",
                "oauth_refresh_encrypted",
                "oauth_access_encrypted",
                "retired_at",
                "updated_at",
            ]
        )
