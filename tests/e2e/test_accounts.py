"""In a real browser: add an account from a preset edited to the local Dovecot, test, save."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from accounts.models import Account
from mail.tls import normalize_fingerprint


def csp_violations(page) -> list[str]:
    found: list[str] = []
    page.on(
        "console", lambda msg: found.append(msg.text) if "Content Security" in msg.text else None
    )
    return found


def test_add_an_account_from_a_preset_test_it_and_save_it(
    logged_in_page, dovecot, mail_user, screenshot_dir
):
    page = logged_in_page
    violations = csp_violations(page)
    page.goto("/accounts/")
    page.get_by_role("button", name="Add an account").click()  # Pico: <a role=button>

    page.get_by_label("Name", exact=True).fill("Ann's mail")
    page.get_by_label("Provider", exact=True).select_option(label="Gmail / Google Workspace")
    expect(page.get_by_label("Server", exact=True)).to_have_value("imap.gmail.com")
    expect(page.get_by_label("Port", exact=True)).to_have_value("993")
    expect(page.get_by_label("Security", exact=True)).to_have_value("ssl")
    expect(page.locator("#provider-hint")).to_contain_text("app password")

    page.get_by_label("Protocol", exact=True).select_option(
        "pop3"
    )  # the preset follows the protocol
    expect(page.get_by_label("Server", exact=True)).to_have_value("pop.gmail.com")
    page.get_by_label("Protocol", exact=True).select_option("imap")

    # Point the preset at the local Dovecot: the fields stay editable.
    page.get_by_label("Server", exact=True).fill(dovecot.host)
    page.get_by_label("Port", exact=True).fill(str(dovecot.imap_port))
    page.get_by_label("Security", exact=True).select_option("none")
    page.get_by_label("User name", exact=True).fill(mail_user.username)
    page.get_by_label("Password or app password", exact=True).fill(mail_user.password)

    page.get_by_role("button", name="Test connection").click()
    result = page.locator("#test-result")
    expect(result).to_contain_text("Connected.")
    expect(result.get_by_role("cell", name="INBOX", exact=True)).to_be_visible()
    expect(result).to_contain_text("CONDSTORE")
    page.screenshot(path=f"{screenshot_dir}/account-form-tested.png", full_page=True)
    assert not Account.objects.exists()  # testing saved nothing

    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Ann's mail")).to_be_visible()
    account = Account.objects.get(name="Ann's mail")
    assert (account.provider, account.host, account.port) == (
        "gmail",
        dovecot.host,
        dovecot.imap_port,
    )
    assert account.get_secret() == mail_user.password

    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#test-result")).to_contain_text("Connected.")
    page.screenshot(path=f"{screenshot_dir}/account-page-tested.png", full_page=True)
    page.goto("/accounts/")
    expect(page.get_by_role("link", name="Ann's mail")).to_be_visible()
    assert violations == []


def test_a_self_signed_server_is_pinned_from_the_test_result(logged_in_page, dovecot, mail_user):
    page = logged_in_page
    page.goto("/accounts/new/")
    page.get_by_label("Name", exact=True).fill("Self-hosted")
    page.get_by_label("Server", exact=True).fill(dovecot.host)
    page.get_by_label("Port", exact=True).fill(str(dovecot.imaps_port))
    page.get_by_label("Security", exact=True).select_option("ssl")
    page.get_by_label("User name", exact=True).fill(mail_user.username)
    page.get_by_label("Password or app password", exact=True).fill(mail_user.password)

    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#test-result")).to_contain_text("is not trusted")
    page.get_by_role("button", name="Trust this certificate (pin it)").click()
    fingerprint = normalize_fingerprint(dovecot.cert.sha256)
    expect(page.get_by_label("Pinned certificate SHA-256", exact=True)).to_have_value(fingerprint)

    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#test-result")).to_contain_text("Connected.")
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(r"/accounts/\d+/$"))
    assert Account.objects.get(name="Self-hosted").tls_fingerprint == fingerprint
