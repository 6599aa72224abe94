"""The settings page (administrators): save, send a test notification, send a test mail."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

import audit
from backupweb.access import administrator_required
from jobs import notify, schedules
from sitesettings import mailer
from sitesettings.forms import SiteSettingsForm
from sitesettings.models import SiteSettings
from sitesettings.values import environment, site_settings


@administrator_required
def edit(request: HttpRequest) -> HttpResponse:
    row = SiteSettings.load()
    form = SiteSettingsForm(request.POST or None, instance=row)
    if request.method == "POST" and form.is_valid():
        changed = form.save_changes()
        if "time_zone" in changed:  # daily, weekly and cron schedules run in the new zone
            schedules.reschedule_all()
        if changed:
            audit.record(request, "settings.change", "site settings", fields=changed)
            messages.success(request, "Settings saved: " + ", ".join(changed) + ".")
        else:
            messages.info(request, "Nothing changed.")
        return redirect("sitesettings:edit")
    return render(request, "sitesettings/edit.html", _context(form, row))


def _context(form: SiteSettingsForm, row: SiteSettings) -> dict:
    env = environment()
    return {
        "nav": "settings",
        "form": form,
        "env": env,
        "env_targets": [notify.masked(url, with_path=False) for url in env.notify_urls],
        "stored_targets": [
            notify.masked(url, with_path=False) for url in row.get_secret("notify_urls").split()
        ],
        "has_password": bool(row.email_password_encrypted),
        "in_force": site_settings(row),
        "env_mail_server": _environment_mail_server(),
    }


def _environment_mail_server() -> str:
    """What EMAIL_URL sends through, without its user or password."""
    backend = getattr(settings, "EMAIL_BACKEND", "")
    if backend.endswith("smtp.EmailBackend"):
        return f"{settings.EMAIL_HOST}:{settings.EMAIL_PORT}"
    return f"EMAIL_URL ({backend.rsplit('.', 2)[-2]}, sends nothing out)"


@administrator_required
@require_POST
def notify_test(request: HttpRequest) -> HttpResponse:
    outcome = notify.send_test(None)
    (messages.success if outcome.ok else messages.error)(request, outcome.detail)
    audit.record(request, "settings.notify_test", "site settings", ok=outcome.ok)
    return redirect("sitesettings:edit")


@administrator_required
@require_POST
def mail_test(request: HttpRequest) -> HttpResponse:
    to = request.POST.get("to", "").strip() or request.user.email
    if not to:
        messages.error(request, "Give an address to send the test mail to.")
        return redirect("sitesettings:edit")
    sent, detail = mailer.send_test_mail(to)
    (messages.success if sent else messages.error)(request, detail)
    audit.record(request, "settings.mail_test", "site settings", ok=sent)
    return redirect("sitesettings:edit")
