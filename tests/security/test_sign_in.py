"""Signing in: TOTP two-factor (optional, enforceable for administrators) and throttling."""

from __future__ import annotations

import re

from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEvent
from tests.helpers.security import PASSWORD


def code_for(device: TOTPDevice, offset: int = 0) -> str:
    value = totp(device.bin_key, device.step, device.t0, device.digits, device.drift + offset)
    return f"{value:06d}"


def sign_in(client: Client, username: str, password: str = PASSWORD, code: str = ""):
    data = {"username": username, "password": password, "otp_token": code}
    return client.post(reverse("login"), data)


def turn_on_two_factor(client: Client, user) -> TOTPDevice:
    page = client.get(reverse("users:two-factor"))
    assert b"data:image/svg+xml;base64," in page.content  # the QR code, CSP-allowed
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    secret = re.search(rb'id="totp-secret">([A-Z2-7]+)<', page.content).group(1).decode()
    assert len(secret) >= 32
    response = client.post(reverse("users:two-factor"), {"token": code_for(device)})
    assert response.status_code == 302
    device.refresh_from_db()
    assert device.confirmed
    return device


def test_a_user_turns_on_two_factor_and_then_needs_a_code_to_sign_in(cast, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # django-otp slows retries after a wrong code
    device = turn_on_two_factor(cast.client(cast.oscar), cast.oscar)
    assert AuditEvent.objects.filter(action="user.enable_2fa", actor="oscar").exists()
    client = Client()
    response = sign_in(client, "oscar")
    assert response.status_code == 200 and b"didn't match" in response.content
    assert client.get(reverse("accounts:list")).status_code == 302
    response = sign_in(client, "oscar", code="000000" if code_for(device) != "000000" else "111111")
    assert response.status_code == 200
    # The code used at setup is spent: the next time step's code (within the tolerance).
    response = sign_in(client, "oscar", code=code_for(device, offset=1))
    assert response.status_code == 302
    assert client.get(reverse("accounts:list")).status_code == 200
    failures = AuditEvent.objects.filter(action="auth.login_failed", target="oscar")
    assert [e.details.get("reason") for e in failures] == ["otp", "otp"]


def test_the_confirmation_code_must_be_right(cast):
    client = cast.client(cast.oscar)
    client.get(reverse("users:two-factor"))
    response = client.post(reverse("users:two-factor"), {"token": "123456x"})
    assert response.status_code == 200
    assert not TOTPDevice.objects.filter(user=cast.oscar, confirmed=True).exists()


def test_administrators_must_set_up_two_factor_when_the_setting_requires_it(cast, settings):
    settings.REQUIRE_2FA_FOR_ADMINS = True
    client = Client()
    assert sign_in(client, "alice").status_code == 302
    response = client.get(reverse("accounts:list"))
    assert response.status_code == 302 and response["Location"] == reverse("users:two-factor")
    device = turn_on_two_factor(client, cast.alice)
    assert client.get(reverse("accounts:list")).status_code == 200
    # A fresh sign-in with the code is verified at once; operators are not concerned.
    later = Client()
    assert sign_in(later, "alice", code=code_for(device, offset=1)).status_code == 302
    assert later.get(reverse("accounts:list")).status_code == 200
    operator = Client()
    sign_in(operator, "oscar")
    assert operator.get(reverse("accounts:list")).status_code == 200


def test_an_administrator_resets_a_lost_authenticator(cast):
    turn_on_two_factor(cast.client(cast.oscar), cast.oscar)
    admin = cast.client(cast.alice)
    admin.post(reverse("users:reset-two-factor", args=[cast.oscar.pk]))
    assert not TOTPDevice.objects.filter(user=cast.oscar).exists()
    assert sign_in(Client(), "oscar").status_code == 302


def test_repeated_failures_lock_the_username_out_from_that_address(cast, settings):
    settings.AXES_FAILURE_LIMIT = 3
    client = Client()
    for _ in range(3):
        sign_in(client, "vera", password="wrong-guess")
    response = sign_in(client, "vera")  # even the right password, while locked
    assert response.status_code == 429
    assert b"Too many failed sign-ins" in response.content
    assert client.get(reverse("archive:home")).status_code == 302
    assert AuditEvent.objects.filter(action="auth.locked_out").exists()
    assert AuditEvent.objects.filter(action="auth.login_failed", target="vera").count() >= 3
    # Another username from the same address is not locked.
    assert sign_in(Client(), "oscar").status_code == 302


def test_sign_ins_and_sign_outs_are_audited_with_the_address(cast):
    client = Client(REMOTE_ADDR="192.0.2.7")
    sign_in(client, "vera")
    client.post(reverse("logout"))
    sign_in(client, "vera", password="nope")
    events = {e.action: e for e in AuditEvent.objects.all()}
    assert events["auth.login"].ip == "192.0.2.7" and events["auth.login"].actor == "vera"
    assert events["auth.logout"].actor == "vera"
    failed = events["auth.login_failed"]
    assert failed.ip == "192.0.2.7" and failed.target == "vera"
    assert "nope" not in str(failed.details)
