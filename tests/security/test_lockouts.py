"""Locked-out sign-ins on the users page, and an administrator unlocking one (audited)."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from tests.security.test_sign_in import sign_in


def lock_out(settings, username: str) -> Client:
    settings.AXES_FAILURE_LIMIT = 3
    client = Client()
    for _ in range(3):
        sign_in(client, username, password="wrong-guess")
    assert sign_in(client, username).status_code == 429
    return client


def test_the_users_page_lists_locked_out_sign_ins_and_unlocking_lets_them_in(cast, settings):
    locked = lock_out(settings, "vera")
    admin = cast.client(cast.alice)

    page = admin.get(reverse("users:list")).content.decode()
    section = page.split('id="lockouts-title"')[1]
    assert "vera" in section and "127.0.0.1" in section and "Unlock" in section

    unlock = section.split('action="')[1].split('"')[0]
    assert admin.post(unlock).status_code == 302
    event = AuditEvent.objects.get(action="user.unlock")
    assert event.target == "vera" and event.actor == "alice"
    assert "Nobody is locked out." in admin.get(reverse("users:list")).content.decode()
    assert sign_in(locked, "vera").status_code == 302  # signed in


def test_only_administrators_may_unlock(cast, settings):
    lock_out(settings, "vera")
    from axes.models import AccessAttempt

    attempt = AccessAttempt.objects.get(username="vera")
    url = reverse("users:unlock", args=[attempt.pk])
    assert cast.client(cast.oscar).post(url).status_code in (302, 403, 404)
    assert AccessAttempt.objects.filter(pk=attempt.pk).exists()
    assert not AuditEvent.objects.filter(action="user.unlock").exists()
