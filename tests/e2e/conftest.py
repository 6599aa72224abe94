"""Headless Chromium (Debian's, no browser download) driven by Playwright against live_server."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest
from django.contrib.auth import get_user_model

# Playwright's sync API runs an event loop in this thread; Django's ORM refuses to run in one
# unless told it is safe, which it is here: the test and the browser never share a connection.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps calling out to hosts we cannot reach.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip

ADMIN_USERNAME = "alice"
ADMIN_PASSWORD = "correct-horse-battery-9"


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def admin_user(transactional_db):
    return get_user_model().objects.create_superuser(
        ADMIN_USERNAME, "alice@example.org", ADMIN_PASSWORD
    )


@pytest.fixture
def archive_root(tmp_path, settings):
    settings.ARCHIVE_ROOT = tmp_path / "archive"
    settings.ARCHIVE_ENCRYPTION_KEY = ""
    return settings.ARCHIVE_ROOT


def log_in(page, username: str = ADMIN_USERNAME, password: str = ADMIN_PASSWORD) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/login/" not in url)


@pytest.fixture
def logged_in_page(page, admin_user):
    log_in(page)
    return page


@pytest.fixture(scope="session")
def screenshot_dir():
    path = os.environ.get("E2E_SCREENSHOTS") or tempfile.mkdtemp(prefix="bw-e2e-")
    os.makedirs(path, exist_ok=True)
    return path
