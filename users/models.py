"""A user's role and, for viewers, the accounts granted to them.

Users are Django's own; the role (`users.roles`) lives in a one-to-one profile. Administrators
are also Django superusers and staff (users.services keeps the flags in step with the role), so
the Django admin site is theirs alone.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from users.roles import Role


class Profile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    role = models.CharField(max_length=16, choices=Role, default=Role.VIEWER)
    # Viewers only: the accounts whose archive they may browse (others see every account).
    accounts = models.ManyToManyField(
        "accounts.Account", blank=True, related_name="viewer_profiles"
    )

    def __str__(self) -> str:
        return f"{self.user} ({self.role})"


class ApiToken(models.Model):
    """A personal access token for the REST API. Only its SHA-256 is stored: the token itself is
    shown once, when it is made (users.api_tokens)."""

    class Scope(models.TextChoices):
        READ = "read", "Read"
        OPERATE = "operate", "Operate"
        ADMIN = "admin", "Admin"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, blank=True, default="")
    prefix = models.CharField(max_length=12)  # the token's first characters, to recognise it
    digest = models.CharField(max_length=64, unique=True)
    scope = models.CharField(max_length=10, choices=Scope, default=Scope.READ)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.scope}) of {self.user}"
