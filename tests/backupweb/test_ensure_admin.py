"""The first start creates an administrator, once."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def run() -> str:
    out = StringIO()
    call_command("ensure_admin", stdout=out)
    return out.getvalue()


def test_it_uses_the_configured_username_and_password(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "root-admin")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-pass-phrase")
    output = run()
    assert "a-long-pass-phrase" not in output
    assert authenticate(username="root-admin", password="a-long-pass-phrase").is_superuser


def test_it_prints_a_generated_password_once(monkeypatch):
    monkeypatch.delenv("DJANGO_SUPERUSER_USERNAME", raising=False)
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    output = run()
    password = output.split("password: ")[1].split()[0]
    assert authenticate(username="admin", password=password) is not None
    assert run() == ""  # a second start prints nothing and creates nobody
    assert get_user_model().objects.count() == 1
