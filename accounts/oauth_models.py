"""OAuth client credentials an admin edits in the Django admin (they override the environment)."""

from __future__ import annotations

import uuid

from django.db import models

from accounts import secrets


class OAuthClient(models.Model):
    class Kind(models.TextChoices):
        GOOGLE = "google", "Google"
        MICROSOFT = "microsoft", "Microsoft"
        GENERIC = "generic", "Generic OAuth2"

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    provider = models.CharField(max_length=20, choices=Kind, unique=True)
    name = models.CharField(
        max_length=100, blank=True, default="", help_text="Generic only: shown as 'Sign in with …'."
    )
    client_id = models.CharField("client ID", max_length=300)
    # Fernet token bound to this row's uid, like account passwords.
    client_secret_encrypted = models.TextField(blank=True, default="", editable=False)
    tenant = models.CharField(
        max_length=100,
        blank=True,
        default="common",
        help_text="Microsoft only: tenant ID or domain, or 'common'.",
    )
    authorization_url = models.URLField("authorization endpoint", blank=True, default="")
    token_url = models.URLField("token endpoint", blank=True, default="")
    device_url = models.URLField("device authorization endpoint", blank=True, default="")
    revocation_url = models.URLField("revocation endpoint", blank=True, default="")
    userinfo_url = models.URLField("userinfo endpoint", blank=True, default="")
    scopes = models.CharField(
        max_length=1000,
        blank=True,
        default="",
        help_text="Separated by spaces. Empty: the provider's usual mail scopes.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "OAuth client"
        ordering = ["provider"]

    def __str__(self) -> str:
        return self.get_provider_display()

    def set_client_secret(self, value: str) -> None:
        self.client_secret_encrypted = secrets.encrypt(
            value, owner=str(self.uid), field="client_secret"
        )

    def get_client_secret(self) -> str:
        if not self.client_secret_encrypted:
            return ""  # public clients (device flow, PKCE) have none
        return secrets.decrypt(
            self.client_secret_encrypted, owner=str(self.uid), field="client_secret"
        )
