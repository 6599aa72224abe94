"""Pages an admin can trust on a desk (1280 px) and a phone (390 px), in Chromium: a live run
whose header and buttons follow its state and whose bar never moves back, and every page
without sideways scrolling, template text, or tables wider than the screen."""

from __future__ import annotations

import pytest
from django.utils import timezone

from archive.models import Folder, Message
from jobs.models import FolderRun, JobRun
from tests.corpus import pick
from tests.helpers.jobs import make_account, make_job
from tests.servers.mailbox import seed_mailbox

LONG_FOLDER = ("Projekte " + "sehr lange Ordnerbezeichnung " * 7)[:200]  # 200 characters
WIDTHS = [1280, 390]

# Installed by the test (DevTools, not a page script): every refresh of the run page's live part
# records the overall bar and the header's state.
RECORD_SWAPS = """() => {
  window.seen = [];
  document.body.addEventListener("htmx:afterSettle", () => {
    const bar = document.querySelector("progress.overall");
    const header = document.querySelector(".run-header");
    window.seen.push({
      value: bar && bar.hasAttribute("value") ? Number(bar.getAttribute("value")) : null,
      max: bar && bar.hasAttribute("max") ? Number(bar.getAttribute("max")) : null,
      header: header ? header.dataset.state : null,
    });
  });
}"""

OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll("main table")]
    .filter((t) => t.getBoundingClientRect().right > width + 1)
    .map((t) => t.className || t.tagName);
  return {scroll: document.documentElement.scrollWidth - width, tables: wide};
}"""


@pytest.fixture
def job(dovecot, mail_user):
    messages = [m for m in pick(without=("malformed",)) if 3000 < m.size < 20000][:16]
    seed_mailbox(dovecot, mail_user, messages, ("INBOX", "Archive", LONG_FOLDER))
    # Throttled so the run lasts several seconds: the page must see it running.
    account = make_account(dovecot, mail_user, bandwidth_limit=20_000)
    return make_job(account, name="Daily backup", options={"batch_bytes": 16_000})


def assert_fits(page, what: str) -> None:
    found = page.evaluate(OVERFLOW)
    assert found["scroll"] <= 0, f"{what}: the page scrolls sideways by {found['scroll']} px"
    assert not found["tables"], f"{what}: tables wider than the screen: {found['tables']}"
    text = page.inner_text("body")
    assert "{#" not in text and "#}" not in text, f"{what}: template text shown"


@pytest.mark.parametrize("width", WIDTHS)
def test_a_live_run_fits_the_screen_and_its_header_and_bar_follow_the_run(
    logged_in_page,
    job,
    start_worker,
    screenshot_dir,
    width,
):
    page = logged_in_page
    page.set_viewport_size({"width": width, "height": 800})
    start_worker()
    page.goto(f"/jobs/{job.pk}/")
    page.get_by_role("button", name="Run now").click()
    page.wait_for_url("**/jobs/runs/*/")
    page.evaluate(RECORD_SWAPS)
    run = JobRun.objects.get(job=job)

    page.wait_for_selector(".run-header[data-state=running]", timeout=20_000)
    assert page.get_by_role("button", name="Cancel run").is_visible()
    page.wait_for_selector(f"tr[data-folder='{LONG_FOLDER}']", timeout=20_000)
    assert_fits(page, f"running run at {width} px")
    left = page.locator("table.folder-progress th", has_text="Left")
    assert left.bounding_box()["x"] + left.bounding_box()["width"] <= width
    page.screenshot(path=f"{screenshot_dir}/layout-run-{width}.png", full_page=True)

    page.wait_for_selector(".run-header[data-state=succeeded]", timeout=60_000)
    assert page.get_by_role("button", name="Cancel run").count() == 0
    assert_fits(page, f"finished run at {width} px")
    page.screenshot(path=f"{screenshot_dir}/layout-run-done-{width}.png", full_page=True)

    seen = page.evaluate("window.seen")
    assert seen[0]["header"] in ("queued", "running")  # no reload: one page saw it all
    fractions = [s["value"] / s["max"] for s in seen if s["value"] is not None]
    assert fractions == sorted(fractions), f"the bar moved back: {fractions}"
    final = sum(FolderRun.objects.filter(run=run).values_list("total", flat=True))
    assert final == Message.objects.filter(folder__account=job.account).count() > 0
    bar = page.locator("progress.overall")
    assert bar.get_attribute("value") == bar.get_attribute("max") == str(final)
    assert f"{final} of {final}" in page.inner_text("section.run-progress")


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_fits_the_screen_without_template_text(
    logged_in_page, job, screenshot_dir, width
):
    from jobs.engine.backup.account import backup_account

    backup_account(job.account)
    JobRun.objects.create(
        job=job, account=job.account, state=JobRun.State.SUCCEEDED, summary="x" * 300,
        finished_at=timezone.now(),
    )  # fmt: skip
    folder = Folder.objects.get(account=job.account, name=LONG_FOLDER)
    message = Message.objects.filter(folder=folder).first()
    run = JobRun.objects.get(job=job)
    page = logged_in_page
    page.set_viewport_size({"width": width, "height": 800})
    pages = {
        "dashboard": "/",
        "accounts": "/accounts/",
        "jobs": "/jobs/",
        "history": "/jobs/runs/",
        "job": f"/jobs/{job.pk}/",
        "run": f"/jobs/runs/{run.pk}/",
        "archive": "/archive/",
        "archive-account": f"/archive/accounts/{job.account.pk}/",
        "folder": f"/archive/folders/{folder.pk}/",
        "message": f"/archive/messages/{message.pk}/",
        "users": "/users/",
        "settings": "/settings/",
        "tokens": "/users/me/tokens/",
    }
    for name, url in pages.items():
        page.goto(url)
        page.screenshot(path=f"{screenshot_dir}/layout-{name}-{width}.png", full_page=True)
        assert_fits(page, f"{name} at {width} px")


def test_on_a_phone_the_navigation_folds_into_a_menu(logged_in_page):
    page = logged_in_page
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto("/")
    jobs_link = page.get_by_role("link", name="Jobs", exact=True)
    menu = page.get_by_role("button", name="Menu")
    assert menu.is_visible() and not jobs_link.is_visible()
    menu.click()
    assert jobs_link.is_visible() and menu.get_attribute("aria-expanded") == "true"
    jobs_link.click()
    page.wait_for_url("**/jobs/")

    page.set_viewport_size({"width": 1280, "height": 800})
    assert not page.get_by_role("button", name="Menu").is_visible()
    assert page.get_by_role("link", name="Jobs", exact=True).is_visible()
