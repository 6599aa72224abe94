"""The one row of site settings; an empty field means "the environment's value".

Secrets (notification URLs often carry tokens, the SMTP password) are stored encrypted and
bound to this row and field like account secrets, never in clear.
"""

from __future__ import annotations

from django.db import models

from accounts import secrets

OWNER = "site-settings"  # what each encrypted value is bound to (there is one row)


class SiteSettings(models.Model):
    class Security(models.TextChoices):
        NONE = "none", "None"
        STARTTLS = "starttls", "STARTTLS"
        SSL = "ssl", "SSL/TLS"

    notify_urls_encrypted = models.TextField(blank=True, default="")
    email_host = models.CharField(max_length=255, blank=True, default="")
    email_port = models.PositiveIntegerField(null=True, blank=True)
    email_security = models.CharField(max_length=10, choices=Security, blank=True, default="")
    email_username = models.CharField(max_length=255, blank=True, default="")
    email_password_encrypted = models.TextField(blank=True, default="")
    email_from = models.CharField(max_length=255, blank=True, default="")
    time_zone = models.CharField(max_length=64, blank=True, default="")
    import_dir = models.CharField(max_length=1000, blank=True, default="")
    export_retention_days = models.PositiveIntegerField(null=True, blank=True)
    audit_retention_days = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "site settings"

    def __str__(self) -> str:
        return "Site settings"

    @classmethod
    def load(cls) -> SiteSettings:
        """The row (pk 1), created empty on first use."""
        return cls.objects.get_or_create(pk=1)[0]

    def set_secret(self, field: str, value: str) -> None:
        token = secrets.encrypt(value, owner=OWNER, field=field) if value else ""
        setattr(self, f"{field}_encrypted", token)

    def get_secret(self, field: str) -> str:
        token = getattr(self, f"{field}_encrypted")
        return secrets.decrypt(token, owner=OWNER, field=field) if token else ""
