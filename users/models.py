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
