"""OAuth2 sign-in pages, the form, the admin's client settings and `manage.py oauth_login`.

The browser's part is played with urllib against the local provider (the e2e test drives a real
Chromium through the same flow); the account then logs in to the real Dovecot.
"""

from __future__ import annotations

import io
import threading
import time
import urllib.request
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.core.management import call_command
from django.urls import reverse

from accounts import oauth_clients
from accounts.models import Account, OAuthClient
from mail.probe import test_connection
from tests.servers.oauth import (
    CLIENT_ID,
    CLIENT_SECRET,
    configure_generic,
    signed_in_account,
)

pytestmark = pytest.mark.django_db(transaction=True)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def provider_answer(authorize_url: str, login: str, decision: str = "allow") -> str:
    """What the provider's page does when the user presses a button: the URL it sends back."""
    query = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
    form = urlencode({**query, "login": login, "decision": decision}).encode()
    base = authorize_url.split("?")[0]
    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(urllib.request.Request(base, data=form, method="POST"))
    except urllib.error.HTTPError as exc:
        assert exc.code == 302
        return exc.headers["Location"]
    raise AssertionError("the provider did not redirect back")


@pytest.fixture
def oauth(settings, oauth_provider):
    configure_generic(settings, oauth_provider)
    settings.SITE_URL = "http://testserver"
    return oauth_provider


@pytest.fixture
def new_account(oauth_dovecot):
    return Account.objects.create(
        name="Team mailbox", provider="custom", host=oauth_dovecot.host,
        port=oauth_dovecot.imap_port, security="none", username="",
        auth_method=Account.AuthMethod.OAUTH2, oauth_provider="generic",
    )  # fmt: skip


def test_the_browser_flow_stores_the_refresh_token_encrypted_and_fills_the_user_name(
    admin_client, oauth, oauth_dovecot, new_account
):
    user = oauth_dovecot.add_user()
    start = admin_client.get(reverse("accounts:oauth-start", args=[new_account.pk]))
    assert start.status_code == 302
    query = parse_qs(urlsplit(start["Location"]).query)
    assert query["code_challenge_method"] == ["S256"] and query["state"][0]
    assert query["redirect_uri"] == ["http://testserver/accounts/oauth/callback/"]
    back = provider_answer(start["Location"], user.username)
    page = admin_client.get(back, follow=True)
    assert f"Signed in with Test provider as {user.username}" in page.content.decode()
    account = Account.objects.get(pk=new_account.pk)
    assert account.username == user.username and account.oauth_signed_in
    assert not account.needs_reauth
    issued = oauth.issued[-2:]
    assert not any(t in account.oauth_refresh_encrypted for t in issued)
    report = test_connection(account)
    assert report.ok and report.auth_mechanism == "XOAUTH2", report.error


def test_a_callback_with_an_unknown_state_changes_nothing(admin_client, oauth, new_account):
    admin_client.get(reverse("accounts:oauth-start", args=[new_account.pk]))
    url = reverse("accounts:oauth-callback") + "?code=abc&state=forged"
    response = admin_client.get(url)
    assert response.status_code == 400
    assert not Account.objects.get(pk=new_account.pk).oauth_signed_in


def test_a_code_without_the_matching_pkce_verifier_is_refused(
    admin_client, oauth, oauth_dovecot, new_account
):
    start = admin_client.get(reverse("accounts:oauth-start", args=[new_account.pk]))
    back = provider_answer(start["Location"], "someone")
    session = admin_client.session
    flows = session["oauth_flows"]
    for flow in flows.values():
        flow["verifier"] = "not-the-verifier-that-made-the-challenge-0123456789"
    session["oauth_flows"] = flows
    session.save()
    page = admin_client.get(back, follow=True)
    assert "Sign-in failed" in page.content.decode() and "invalid_grant" in page.content.decode()
    assert not Account.objects.get(pk=new_account.pk).oauth_signed_in


def test_a_denied_sign_in_says_so(admin_client, oauth, new_account):
    start = admin_client.get(reverse("accounts:oauth-start", args=[new_account.pk]))
    page = admin_client.get(provider_answer(start["Location"], "x", "deny"), follow=True)
    assert "Sign-in was not completed: access_denied" in page.content.decode()
    assert not Account.objects.get(pk=new_account.pk).oauth_signed_in


def test_the_device_flow_signs_in_from_the_account_page(
    admin_client, oauth, oauth_dovecot, new_account
):
    user = oauth_dovecot.add_user()
    page = admin_client.post(reverse("accounts:oauth-device", args=[new_account.pk]))
    text = page.content.decode()
    assert "device/verify" in text
    user_code = text.split('id="device-user-code">')[1].split("<")[0]
    poll = reverse("accounts:oauth-device-poll", args=[new_account.pk])
    pending = admin_client.post(poll, HTTP_HX_REQUEST="true")
    assert "Waiting for you to approve" in pending.content.decode()
    oauth.approve_device(user_code, user.username)
    done = admin_client.post(poll, HTTP_HX_REQUEST="true")
    assert done.status_code == 204 and done["HX-Redirect"] == f"/accounts/{new_account.pk}/"
    account = Account.objects.get(pk=new_account.pk)
    assert account.username == user.username and account.oauth_signed_in
    assert test_connection(account).ok
    assert str(new_account.pk) not in admin_client.session["oauth_device"]  # the entry is gone


def test_the_form_saves_an_oauth_account_without_a_password_and_goes_to_sign_in(
    admin_client, oauth, oauth_dovecot
):
    data = {
        "name": "Via form", "provider": "custom", "protocol": "imap",
        "host": oauth_dovecot.host, "port": oauth_dovecot.imap_port, "security": "none",
        "auth_method": "oauth2", "username": "", "password": "", "tls_verify": "on",
        "tls_fingerprint": "", "notes": "", "oauth_sign_in": "1",
    }  # fmt: skip
    form_page = admin_client.get(reverse("accounts:new"))
    assert b'"custom": "Test provider"' in form_page.content  # the sign-in labels
    response = admin_client.post(reverse("accounts:new"), data)
    account = Account.objects.get(name="Via form")
    assert response["Location"] == reverse("accounts:oauth", args=[account.pk])
    assert account.uses_oauth and account.oauth_provider == "generic" and not account.has_secret
    page = admin_client.get(response["Location"]).content.decode()
    assert "Sign in with Test provider" in page
    assert "http://testserver/accounts/oauth/callback/" in page  # the URL to register


def test_a_password_account_still_needs_a_user_name_and_password(admin_client, oauth_dovecot):
    data = {
        "name": "Pw", "provider": "custom", "protocol": "imap", "host": oauth_dovecot.host,
        "port": oauth_dovecot.imap_port, "security": "none", "auth_method": "password",
        "username": "", "password": "", "tls_verify": "on", "tls_fingerprint": "", "notes": "",
    }  # fmt: skip
    response = admin_client.post(reverse("accounts:new"), data)
    assert response.status_code == 200
    assert not Account.objects.filter(name="Pw").exists()
    assert "Enter the user name." in response.content.decode()


def test_sign_out_revokes_the_refresh_token_at_the_provider(admin_client, oauth, oauth_dovecot):
    user = oauth_dovecot.add_user()
    account = signed_in_account(oauth_dovecot, oauth, user)
    assert any(u == user.username for u, _ in oauth.refresh.values())
    admin_client.post(reverse("accounts:oauth-sign-out", args=[account.pk]))
    account.refresh_from_db()
    assert not account.oauth_signed_in and account.oauth_access_encrypted == ""
    assert not any(u == user.username for u, _ in oauth.refresh.values())


def test_needs_reauthorisation_shows_on_the_dashboard_and_the_account_page(
    admin_client, oauth, oauth_dovecot
):
    user = oauth_dovecot.add_user()
    account = signed_in_account(oauth_dovecot, oauth, user)
    oauth.revoke_refresh_tokens(user.username)
    assert not test_connection(account).ok
    dashboard = admin_client.get(reverse("dashboard")).content.decode()
    assert f"{account.name} needs re-authorisation." in dashboard
    assert reverse("accounts:oauth", args=[account.pk]) in dashboard
    page = admin_client.get(account.get_absolute_url()).content.decode()
    assert "Needs re-authorisation." in page and "Sign in again" in page
    # Signing in again clears it and keeps everything else.
    start = admin_client.get(reverse("accounts:oauth-start", args=[account.pk]))
    admin_client.get(provider_answer(start["Location"], user.username))
    account.refresh_from_db()
    assert not account.needs_reauth and account.name == f"OAuth {user.username}"
    assert test_connection(account).ok


def test_the_admin_client_overrides_the_environment_and_keeps_its_secret_encrypted(
    admin_client, oauth, oauth_provider
):
    url = reverse("admin:accounts_oauthclient_add")
    page = admin_client.get(url).content.decode()
    assert "http://testserver/accounts/oauth/callback/" in page
    data = {
        "provider": "google", "name": "", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
        "tenant": "common", "authorization_url": oauth_provider.endpoint("authorize"),
        "token_url": oauth_provider.endpoint("token"), "device_url": "", "revocation_url": "",
        "userinfo_url": "", "scopes": "",
    }  # fmt: skip
    assert admin_client.post(url, data).status_code == 302
    row = OAuthClient.objects.get(provider="google")
    assert CLIENT_SECRET not in row.client_secret_encrypted
    google = oauth_clients.for_preset("gmail")
    assert google.client_secret == CLIENT_SECRET and google.label == "Google"
    assert google.token_url == oauth_provider.endpoint("token")
    assert "https://mail.google.com/" in google.scopes and not google.supports_device_flow
    assert oauth_clients.for_preset("outlook") is None  # no Microsoft client configured


def test_microsoft_uses_its_tenant_and_offers_the_device_flow(settings):
    settings.OAUTH_MICROSOFT_CLIENT_ID = "ms-client"
    settings.OAUTH_MICROSOFT_TENANT = "contoso.onmicrosoft.com"
    microsoft = oauth_clients.for_preset("outlook")
    assert microsoft.authorization_url.startswith(
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/"
    )
    assert microsoft.supports_device_flow and "offline_access" in microsoft.scopes


def test_the_oauth_login_command_runs_the_device_flow_in_a_terminal(
    oauth, oauth_dovecot, new_account
):
    user = oauth_dovecot.add_user()

    def approve() -> None:
        for _ in range(100):
            if oauth.devices:
                device = list(oauth.devices.values())[-1]  # the newest
                oauth.approve_device(device.user_code, user.username)
                return
            time.sleep(0.05)

    threading.Thread(target=approve, daemon=True).start()
    out = io.StringIO()
    call_command("oauth_login", new_account.name, stdout=out)
    assert "enter the code" in out.getvalue()
    assert f"Signed in with Test provider as {user.username}." in out.getvalue()
    account = Account.objects.get(pk=new_account.pk)
    assert test_connection(account).auth_mechanism == "XOAUTH2"


def test_testing_the_edit_form_keeps_the_rotated_refresh_token(admin_client, oauth, oauth_dovecot):
    from django.utils import timezone

    user = oauth_dovecot.add_user()
    account = signed_in_account(oauth_dovecot, oauth, user)
    Account.objects.filter(pk=account.pk).update(oauth_access_expires_at=timezone.now())
    data = {
        "name": account.name, "provider": "custom", "protocol": "imap",
        "host": oauth_dovecot.host, "port": oauth_dovecot.imap_port, "security": "none",
        "auth_method": "oauth2", "username": user.username, "password": "", "tls_verify": "on",
        "tls_fingerprint": "", "notes": "",
    }  # fmt: skip
    url = reverse("accounts:edit-test", args=[account.pk])
    result = admin_client.post(url, data, HTTP_HX_REQUEST="true").content.decode()
    assert "Connected." in result and "XOAUTH2" in result
    # The provider rotated the refresh token during the test; the stored one is the new one.
    Account.objects.filter(pk=account.pk).update(oauth_access_expires_at=timezone.now())
    assert test_connection(Account.objects.get(pk=account.pk)).ok
