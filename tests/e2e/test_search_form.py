"""The advanced search writes its fields into the search box as operators, in headless Chromium,
so the address of a search is `?q=...` and can be bookmarked or shared."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from django.urls import reverse

from tests.archive.browser_helpers import archive_raws
from tests.e2e.conftest import log_in
from tests.helpers.archive import make_account, make_folder
from tests.helpers.search import mail_raw


def test_the_advanced_fields_become_operators_in_the_address(
    page, admin_user, live_server, archive_root
):
    folder = make_folder(make_account("shared"), "INBOX")
    archive_raws(folder, [
        mail_raw("Holiday plans", "Meet at the zebra crossing.", day=10),
        mail_raw("Budget", "zebra figures", frm="dave@example.org", day=3),
    ])  # fmt: skip
    log_in(page)
    page.goto(reverse("archive:search"))
    page.get_by_label("Search words").fill("zebra")
    page.get_by_text("Advanced search", exact=True).click()
    page.get_by_label("Subject has").fill('"holiday plans"')
    page.get_by_label("To date").fill("2024-01-31")
    page.get_by_label("Has attachment").select_option("no")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**/search/?*")
    params = parse_qs(urlparse(page.url).query)
    assert params["q"] == ['zebra subject:"holiday plans" before:2024-02-01 -has:attachment']
    assert set(params) <= {"q", "account", "flag", "folder"}
    assert page.get_by_role("link", name="Holiday plans").is_visible()
    assert page.get_by_role("link", name="Budget").count() == 0
