"""Production settings pass `check --deploy`; every page carries the security headers; cookies
are Secure/HttpOnly; every POST, htmx ones included, needs the CSRF token."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from django.test import Client
from django.urls import reverse

BASE_DIR = Path(__file__).resolve().parents[2]
FERNET_KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="


def test_production_settings_pass_the_deployment_check_without_warnings(tmp_path):
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    env = {
        **keep,
        "PRODUCTION": "true",
        "DATA_DIR": str(tmp_path),
        "SECRET_KEY": "k" * 20 + "-a-long-random-looking-secret-key-for-checks-0123456789",
        "FERNET_KEYS": FERNET_KEY,
        "ALLOWED_HOSTS": "backup.example.org",
        "CSRF_TRUSTED_ORIGINS": "https://backup.example.org",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def csp_directives(header: str) -> dict[str, str]:
    return {d.split()[0]: d for d in (p.strip() for p in header.split(";")) if d}


def test_app_pages_carry_the_security_headers(cast):
    client = cast.client(cast.alice)
    for url in (reverse("dashboard"), reverse("users:list"), reverse("audit:list"), "/nope/"):
        response = client.get(url)
        csp = csp_directives(response["Content-Security-Policy"])
        assert csp["script-src"] == "script-src 'self'", url
        assert "unsafe-inline" not in csp.get("script-src", "") + csp["default-src"]
        assert csp["frame-ancestors"] == "frame-ancestors 'none'"
        assert response["X-Frame-Options"] == "DENY"
        assert response["Referrer-Policy"] == "same-origin"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert "Strict-Transport-Security" not in response  # plain HTTP: no HSTS


def test_the_login_page_carries_them_too(db):
    response = Client().get(reverse("login"))
    assert response["X-Frame-Options"] == "DENY"
    assert "script-src 'self'" in response["Content-Security-Policy"]


def test_hsts_is_sent_over_tls(cast, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    response = cast.client(cast.alice).get(reverse("dashboard"), secure=True)
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")


def test_session_and_csrf_cookies_are_http_only_and_secure_in_production(cast, settings):
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    client = Client()
    client.get(reverse("login"))
    response = client.post(
        reverse("login"), {"username": "vera", "password": "Correct-Horse-Battery-7"}
    )
    session = response.cookies["sessionid"]
    assert session["httponly"] and session["secure"]
    csrf = client.cookies["csrftoken"]
    assert csrf["httponly"] and csrf["secure"]


def test_posts_without_the_csrf_token_are_refused(cast):
    client = Client(enforce_csrf_checks=True)
    client.force_login(cast.alice)
    response = client.post(reverse("users:reset-two-factor", args=[cast.oscar.pk]))
    assert response.status_code == 403


def test_htmx_requests_send_the_token_the_page_carries(cast):
    """base.html puts the token in hx-headers, so every htmx request carries X-CSRFToken."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(cast.oscar)
    page = client.get(reverse("accounts:detail", args=[cast.granted.pk])).content.decode()
    token = re.search(r"hx-headers='\{\"X-CSRFToken\": \"([^\"]+)\"\}'", page).group(1)
    url = reverse("accounts:test", args=[cast.granted.pk])
    assert client.post(url, HTTP_HX_REQUEST="true").status_code == 403
    response = client.post(url, HTTP_HX_REQUEST="true", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200  # the connection test fragment (port 1 refuses)
