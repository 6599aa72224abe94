"""The settings form: plain fields saved as typed, secrets only when a new one is typed."""

from __future__ import annotations

import zoneinfo
from pathlib import Path

from django import forms

from sitesettings.models import SiteSettings

PLAIN = (
    "email_host",
    "email_port",
    "email_security",
    "email_username",
    "email_from",
    "time_zone",
    "import_dir",
    "export_retention_days",
    "audit_retention_days",
)
SECRETS = ("notify_urls", "email_password")


def zone_choices() -> list[tuple[str, str]]:
    return [("", "(environment)")] + [(z, z) for z in sorted(zoneinfo.available_timezones())]


class SiteSettingsForm(forms.ModelForm):
    notify_urls = forms.CharField(
        label="Notification URLs",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "autocomplete": "off"}),
        help_text="Apprise URLs, one per line. Empty keeps the stored ones.",
    )
    clear_notify_urls = forms.BooleanField(
        label="Remove the stored notification URLs (use the environment's)", required=False
    )
    email_password = forms.CharField(
        label="SMTP password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="Empty keeps the stored password.",
    )
    clear_email_password = forms.BooleanField(
        label="Remove the stored SMTP password", required=False
    )
    time_zone = forms.ChoiceField(choices=zone_choices, required=False)

    class Meta:
        model = SiteSettings
        fields = PLAIN
        labels = {
            "email_host": "SMTP server",
            "email_port": "SMTP port",
            "email_security": "SMTP security",
            "email_username": "SMTP user name",
            "email_from": "Sender address",
            "import_dir": "Server import folder",
            "export_retention_days": "Keep exports for (days, 0 keeps them)",
            "audit_retention_days": "Keep the audit log for (days, 0 keeps it)",
        }
        widgets = {"email_from": forms.EmailInput()}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Validation writes the typed values onto the instance: remember what was stored.
        self.before = {name: getattr(self.instance, name) for name in PLAIN}

    def clean_import_dir(self) -> str:
        value = self.cleaned_data["import_dir"].strip()
        if value and not Path(value).is_absolute():
            raise forms.ValidationError("Give an absolute path.")
        if value and not Path(value).is_dir():
            raise forms.ValidationError("No such folder on the server.")
        return value

    def save_changes(self) -> list[str]:
        """Save; the names of the fields that changed (never their values)."""
        row = self.save(commit=False)
        changed = [name for name in PLAIN if getattr(row, name) != self.before[name]]
        for name in SECRETS:
            new = self.new_secret(name)
            if new is not None:
                row.set_secret(name, new)
                changed.append(name)
        row.save()
        return changed

    def new_secret(self, name: str) -> str | None:
        """The secret to store ("" removes it), or None to keep the stored one."""
        stored = self.instance.get_secret(name)
        if self.cleaned_data[f"clear_{name}"]:
            return "" if stored else None
        typed = self.cleaned_data[name]
        if name == "notify_urls":
            typed = "\n".join(line.strip() for line in typed.splitlines() if line.strip())
        return typed if typed and typed != stored else None
