"""A person logs in, sees the dashboard, and logs out, in a real browser."""

from __future__ import annotations

from tests.e2e.conftest import log_in


def test_log_in_see_the_dashboard_and_log_out(page, admin_user, screenshot_dir):
    page.goto("/")
    assert "/login/" in page.url  # not signed in yet

    log_in(page)
    assert page.get_by_role("heading", name="Dashboard").is_visible()
    for section in ("Accounts", "Jobs", "Archive"):
        assert page.get_by_role("link", name=section).is_visible()
    page.screenshot(path=f"{screenshot_dir}/dashboard.png", full_page=True)

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login/")
    page.goto("/")
    assert "/login/" in page.url


def test_a_wrong_password_is_refused(page, admin_user):
    log_in_attempt = page.goto("/login/")
    assert log_in_attempt.ok
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_role("alert").is_visible()
    assert "/login/" in page.url


def test_pages_raise_no_csp_violations(page, admin_user):
    violations: list[str] = []
    page.on(
        "console",
        lambda msg: violations.append(msg.text) if "Content Security" in msg.text else None,
    )
    log_in(page)
    page.goto("/accounts/")
    page.goto("/jobs/")
    assert violations == []
