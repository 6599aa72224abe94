"""In a real browser: the API documentation page renders every endpoint from local files only,
with the site's Content-Security-Policy and no violation of it; the tokens page shows a new
token once."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.test_accounts import csp_violations
from tests.e2e.test_layout import WIDTHS, assert_fits


def test_the_api_docs_render_from_local_files_without_csp_violations(logged_in_page, live_server):
    page = logged_in_page
    violations = csp_violations(page)
    elsewhere: list[str] = []
    page.on(
        "request",
        lambda r: None if r.url.startswith((live_server.url, "data:")) else elsewhere.append(r.url),
    )
    page.goto("/api/docs/")
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any("/api/v1/accounts/" in p for p in paths)
    assert any("/api/v1/archive/messages/{id}/source/" in p for p in paths)
    assert violations == [] and elsewhere == []


@pytest.mark.parametrize("width", WIDTHS)
def test_a_new_token_is_shown_once_on_the_tokens_page_that_fits_the_screen(logged_in_page, width):
    page = logged_in_page
    page.set_viewport_size({"width": width, "height": 800})
    page.goto("/users/me/tokens/")
    page.get_by_label("Name").fill("nightly script")
    page.get_by_role("button", name="Create token").click()
    token = page.locator("#new-token").inner_text()
    assert token.startswith("bw_")
    page.goto("/users/me/tokens/")  # a later visit
    expect(page.locator("#new-token")).to_have_count(0)
    expect(page.get_by_role("cell", name="nightly script")).to_be_visible()
    assert_fits(page, f"tokens at {width} px")
