from __future__ import annotations

from django.apps import AppConfig


class SiteSettingsConfig(AppConfig):
    name = "sitesettings"
    verbose_name = "Site settings"
    default_auto_field = "django.db.models.BigAutoField"
