"""An admin starts a backup from the UI and watches it finish, live, without reloading."""

from __future__ import annotations

import pytest

from jobs.models import JobRun
from tests.corpus import pick
from tests.helpers.jobs import make_account, make_job
from tests.servers.mailbox import seed_mailbox


@pytest.fixture
def job(dovecot, mail_user):
    messages = [m for m in pick(without=("malformed",)) if 3000 < m.size < 20000][:16]
    seed_mailbox(dovecot, mail_user, messages, ("INBOX", "Archive"))
    # Throttled to about three seconds, so the page shows the run while it moves.
    account = make_account(dovecot, mail_user, bandwidth_limit=40_000)
    return make_job(account, name="Daily backup", options={"batch_bytes": 16_000})


def test_start_a_backup_and_watch_the_progress_bar_reach_100_percent(
    logged_in_page,
    job,
    start_worker,
    screenshot_dir,
):
    page = logged_in_page
    start_worker()
    page.goto(f"/jobs/{job.pk}/")
    page.get_by_role("button", name="Run now").click()
    page.wait_for_url("**/jobs/runs/*/")
    run = JobRun.objects.get(job=job)
    # A marker that a page reload would wipe out.
    page.evaluate("window.stillTheSamePage = true")

    overall = page.locator("section.run-progress progress.overall")
    page.wait_for_selector("section.run-progress[data-state=running]", timeout=20_000)
    page.screenshot(path=f"{screenshot_dir}/run-running.png", full_page=True)
    page.wait_for_selector("section.run-progress[data-state=succeeded]", timeout=60_000)

    assert overall.get_attribute("value") == overall.get_attribute("max")
    assert page.evaluate("window.stillTheSamePage") is True
    assert page.get_by_role("cell", name="INBOX", exact=True).is_visible()
    assert "messages on the server are in the archive" in page.inner_text("section.run-progress")
    run.refresh_from_db()
    assert run.log and page.inner_text("pre.run-log").strip() == run.log.strip()  # no reload
    page.screenshot(path=f"{screenshot_dir}/run-finished.png", full_page=True)
    run.refresh_from_db()
    assert run.state == JobRun.State.SUCCEEDED and run.trigger == JobRun.Trigger.MANUAL

    # The finished fragment stops polling: no further requests for it.
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.wait_for_timeout(2500)
    assert not [url for url in requests if "/progress/" in url]

    # The dashboard now shows the account's last run and what was archived.
    page.goto("/")
    row = page.get_by_role("row").filter(has_text=job.account.name)
    assert "Succeeded" in row.inner_text() and "16" in row.inner_text()
    assert page.locator("svg[role=img]").count() >= 2
    page.screenshot(path=f"{screenshot_dir}/dashboard-after-run.png", full_page=True)
