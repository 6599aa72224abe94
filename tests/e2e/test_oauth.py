"""In Chromium: add a Gmail account with "Sign in with Google" against the local OAuth2 provider.

Google's endpoints are replaced by the test provider's through an admin OAuth client entry; the
account points at the Dovecot whose oauth2 passdb asks that provider. The browser leaves for
the provider's page, presses Allow, comes back, and the connection test logs in with XOAUTH2.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.models import Account, OAuthClient
from tests.e2e.test_accounts import csp_violations
from tests.servers.oauth import CLIENT_ID, CLIENT_SECRET


@pytest.fixture
def google_is_the_test_provider(admin_user, oauth_provider, settings, live_server):
    settings.SITE_URL = live_server.url
    client = OAuthClient(
        provider="google",
        client_id=CLIENT_ID,
        authorization_url=oauth_provider.endpoint("authorize"),
        token_url=oauth_provider.endpoint("token"),
        revocation_url=oauth_provider.endpoint("revoke"),
        userinfo_url=oauth_provider.endpoint("userinfo"),
        scopes="openid email mail",
    )
    client.set_client_secret(CLIENT_SECRET)
    client.save()
    yield oauth_provider
    oauth_provider.identity = ""


def test_sign_in_with_google_in_the_browser_then_test_with_xoauth2(
    logged_in_page, google_is_the_test_provider, oauth_dovecot, screenshot_dir, live_server
):
    provider = google_is_the_test_provider
    user = oauth_dovecot.add_user()
    provider.identity = user.username  # who is signed in at the provider
    page = logged_in_page
    violations = csp_violations(page)
    page.goto("/accounts/new/")
    page.get_by_label("Name", exact=True).fill("Gmail via OAuth")
    page.get_by_label("Provider", exact=True).select_option(label="Gmail / Google Workspace")
    page.get_by_label("Server", exact=True).fill(oauth_dovecot.host)
    page.get_by_label("Port", exact=True).fill(str(oauth_dovecot.imap_port))
    page.get_by_label("Security", exact=True).select_option("none")
    save_and_sign_in = page.get_by_role("button", name="Save and sign in with Google")
    expect(save_and_sign_in).to_be_hidden()  # password sign-in is the default
    page.get_by_label("OAuth2").check()
    expect(page.get_by_label("Password or app password", exact=True)).to_be_hidden()
    page.screenshot(path=f"{screenshot_dir}/oauth-form.png", full_page=True)
    save_and_sign_in.click()

    # The account's sign-in page, with the redirect URL to register.
    expect(page.locator("#oauth-redirect-url")).to_have_text(
        f"{live_server.url}/accounts/oauth/callback/"
    )
    page.get_by_role("button", name="Sign in with Google").click()

    # The provider's own page, on its own origin.
    expect(page.get_by_role("heading", name="Test provider")).to_be_visible()
    assert page.url.startswith(provider.url)
    page.get_by_role("button", name="Allow").click()

    # Back on backupweb: signed in, user name filled in from the identity.
    expect(page.get_by_text(f"Signed in with Google as {user.username}.")).to_be_visible()
    account = Account.objects.get(name="Gmail via OAuth")
    assert account.username == user.username and account.oauth_signed_in
    assert account.oauth_provider == "google" and not account.has_secret
    page.get_by_role("button", name="Test connection").click()
    result = page.locator("#test-result")
    expect(result).to_contain_text("Connected.")
    expect(result.locator("#auth-mechanism")).to_have_text("XOAUTH2")
    page.screenshot(path=f"{screenshot_dir}/oauth-account-tested.png", full_page=True)
    assert violations == []


def test_a_revoked_sign_in_offers_sign_in_again_on_the_dashboard(
    logged_in_page, google_is_the_test_provider, oauth_dovecot
):
    from tests.servers.oauth import signed_in_account

    provider = google_is_the_test_provider
    user = oauth_dovecot.add_user()
    provider.identity = user.username
    account = signed_in_account(
        oauth_dovecot, provider, user, provider="gmail", oauth_provider="google"
    )
    provider.revoke_refresh_tokens(user.username)
    page = logged_in_page
    page.goto(account.get_absolute_url())
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#test-result")).to_contain_text("sign in again")
    page.goto("/")
    banner = page.get_by_role("alert").filter(has_text="needs re-authorisation")
    expect(banner).to_be_visible()
    banner.get_by_role("link", name="Sign in again").click()
    page.get_by_role("button", name="Sign in again with Google").click()
    page.get_by_role("button", name="Allow").click()
    expect(page.get_by_text(f"Signed in with Google as {user.username}.")).to_be_visible()
    account.refresh_from_db()
    assert not account.needs_reauth
