"""Mail accounts: the server, the login and its encrypted secret, what the account pages show."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from django.db import models
from django.urls import reverse

from accounts import presets, secrets


@dataclass(frozen=True)
class BackupSummary:
    """What the account list and page show about backups; None is shown as "—"."""

    last_status: str | None = None  # a JobRun state label, e.g. "Succeeded"
    last_run_at: datetime | None = None
    messages: int | None = None  # messages archived
    bytes: int | None = None  # raw bytes archived


class AccountQuerySet(models.QuerySet):
    def active(self) -> AccountQuerySet:
        """Accounts not retired (a retired account only keeps its archive browsable)."""
        return self.filter(retired_at__isnull=True)


class Account(models.Model):
    class Protocol(models.TextChoices):
        IMAP = "imap", "IMAP"
        POP3 = "pop3", "POP3"

    class Security(models.TextChoices):
        SSL = "ssl", "Implicit TLS"
        STARTTLS = "starttls", "STARTTLS"
        NONE = "none", "None (plain text)"

    class AuthMethod(models.TextChoices):
        PASSWORD = "password", "Password"
        OAUTH2 = "oauth2", "OAuth2"

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200, unique=True)
    provider = models.CharField(max_length=40, default="custom")
    protocol = models.CharField(max_length=8, choices=Protocol, default=Protocol.IMAP)
    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField(default=993)
    security = models.CharField(max_length=10, choices=Security, default=Security.SSL)
    username = models.CharField(max_length=320)
    auth_method = models.CharField(max_length=10, choices=AuthMethod, default=AuthMethod.PASSWORD)
    # Fernet token bound to this row's uid; never the clear secret.
    secret_encrypted = models.TextField(blank=True, default="")
    tls_verify = models.BooleanField("verify TLS certificate", default=True)
    tls_fingerprint = models.CharField(
        "pinned certificate SHA-256", max_length=95, blank=True, default=""
    )
    notes = models.TextField(blank=True, default="")
    max_connections = models.PositiveSmallIntegerField(default=4)
    bandwidth_limit = models.PositiveIntegerField("bandwidth cap (bytes/s)", null=True, blank=True)
    daily_budget_mb = models.PositiveIntegerField(
        "daily download budget (MB)", null=True, blank=True
    )
    # The mass-deletion alarm (jobs/engine/backup/alarm.py): a backup warns when more than this
    # share or this many of the account's messages vanished from the server since the last run.
    mass_deletion_percent = models.PositiveSmallIntegerField(
        "mass-deletion warning above (% of messages)", default=20
    )
    mass_deletion_count = models.PositiveIntegerField(
        "mass-deletion warning above (messages)", default=500
    )
    capabilities = models.JSONField(default=list, blank=True)
    last_tested_at = models.DateTimeField(null=True, blank=True)
    last_test_ok = models.BooleanField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Set when the admin deleted the account but kept its archive: the row stays because the
    # archive points at it, its password is erased, and it leaves the account list.
    retired_at = models.DateTimeField(null=True, blank=True)
    # OAuth2 sign-in (auth_method OAUTH2, accounts/oauth_tokens.py): the provider that signed in,
    # the refresh token and the cached access token (Fernet tokens bound to this row like the
    # password), and whether the provider refused the refresh token (sign in again).
    oauth_provider = models.CharField(max_length=20, blank=True, default="")
    oauth_refresh_encrypted = models.TextField(blank=True, default="")
    oauth_access_encrypted = models.TextField(blank=True, default="")
    oauth_access_expires_at = models.DateTimeField(null=True, blank=True)
    oauth_signed_in_at = models.DateTimeField(null=True, blank=True)
    needs_reauth = models.BooleanField("needs re-authorisation", default=False)
    reauth_reason = models.CharField(max_length=500, blank=True, default="")

    objects = AccountQuerySet.as_manager()
    # What get_access_token asks: accounts.oauth_tokens.access_token, handed to the model by
    # AccountsConfig.ready() (that module builds on this one, so this one cannot import it).
    token_source: ClassVar[Callable[..., str]]

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("accounts:detail", args=[self.pk])

    def set_secret(self, value: str) -> None:
        self.secret_encrypted = secrets.encrypt(value, owner=str(self.uid), field="secret")

    def get_secret(self) -> str:
        if not self.secret_encrypted:
            raise secrets.SecretError(f"Account {self.name!r} has no stored password.")
        return secrets.decrypt(self.secret_encrypted, owner=str(self.uid), field="secret")

    @property
    def has_secret(self) -> bool:
        return bool(self.secret_encrypted)

    @property
    def uses_oauth(self) -> bool:
        return self.auth_method == self.AuthMethod.OAUTH2

    @property
    def oauth_signed_in(self) -> bool:
        return bool(self.oauth_refresh_encrypted)

    def get_access_token(self, failed: str = "") -> str:
        """A valid OAuth2 access token, refreshed when due or when `failed` was just refused."""
        return self.token_source(self, failed=failed)

    @property
    def provider_label(self) -> str:
        return presets.get(self.provider).label

    @property
    def provider_hint(self) -> str:
        """Shown with authentication failures: app passwords, IMAP to be enabled, and so on."""
        return presets.get(self.provider).hint

    def backup_summary(self) -> BackupSummary:
        """Last backup state and time, messages and bytes archived, for the list and the page.

        Only backup runs count (a restore, sync, export or verify is not a backup). The runs are
        reached through their reverse relation: the jobs app builds on this one, not the reverse.
        """
        from django.db.models import Sum

        last = (
            self.runs.filter(job__kind="backup", finished_at__isnull=False)
            .order_by(models.F("finished_at").desc(nulls_last=True), "-pk")
            .first()
        )
        # No folder archived yet: the figures are unknown ("—"), not zero.
        totals = self.folders.aggregate(n=Sum("message_count"), b=Sum("total_bytes"))
        return BackupSummary(
            last_status=last.get_state_display() if last else None,
            last_run_at=last.finished_at if last else None,
            messages=totals["n"],
            bytes=totals["b"],
        )


from accounts.oauth_models import OAuthClient  # noqa: E402,F401 (a model of this app)
