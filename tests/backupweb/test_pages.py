"""Every page needs a login, except the login page and the health check."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

PRIVATE_PAGES = ["dashboard", "accounts:list", "jobs:list", "archive:home"]


@pytest.fixture
def admin_client(client, db):
    user = get_user_model().objects.create_superuser("alice", "alice@example.org", "pw-alice-1")
    client.force_login(user)
    return client


@pytest.mark.parametrize("name", PRIVATE_PAGES)
def test_anonymous_visitors_are_sent_to_the_login_page(client, db, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("name", PRIVATE_PAGES)
def test_signed_in_users_see_each_section_with_navigation(admin_client, name):
    response = admin_client.get(reverse(name))
    assert response.status_code == 200
    for label in ("Dashboard", "Accounts", "Jobs", "Archive"):
        assert f">{label}</a>".encode() in response.content


def test_login_page_is_public_and_logs_in(client, db):
    get_user_model().objects.create_user("bob", password="pw-bob-12345")
    assert client.get(reverse("login")).status_code == 200
    response = client.post(reverse("login"), {"username": "bob", "password": "pw-bob-12345"})
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard")


def test_wrong_password_shows_an_error(client, db):
    get_user_model().objects.create_user("bob", password="pw-bob-12345")
    response = client.post(reverse("login"), {"username": "bob", "password": "nope"})
    assert b"didn't match" in response.content


def test_admin_site_is_for_superusers(admin_client):
    assert admin_client.get("/admin/").status_code == 200


def test_pages_carry_a_strict_content_security_policy(admin_client):
    csp = admin_client.get(reverse("dashboard"))["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
