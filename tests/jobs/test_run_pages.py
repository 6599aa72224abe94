"""The run page an admin can trust: no template text, overall figures from the folder rows,
a bar that never moves back, a header that follows the run's state, and local times."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.models import Account
from audit.models import AuditEvent
from jobs.models import FolderRun, Job, JobRun

pytestmark = pytest.mark.django_db
State = JobRun.State


@pytest.fixture
def alice(client):
    user = get_user_model().objects.create_superuser("alice", "alice@example.org", "pw")
    client.force_login(user)
    return user


@pytest.fixture
def run():
    account = Account.objects.create(name="Work mail", host="imap.example.org", username="me")
    job = Job.objects.create(name="Nightly", account=account)
    started = timezone.now() - dt.timedelta(seconds=60)
    return JobRun.objects.create(job=job, account=account, state=State.RUNNING, started_at=started)


def folder(run, name, state, total=0, done=0, nbytes=0) -> FolderRun:
    return FolderRun.objects.create(
        run=run, folder=name, state=state, total=total, done=done, bytes=nbytes
    )


def live(client, run, **query) -> str:
    params = "&".join(f"{k}={v}" for k, v in {"page": 1, **query}.items())
    return client.get(f"/jobs/runs/{run.pk}/progress/?{params}").content.decode()


def visible_text(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html)


def test_the_run_page_and_each_refresh_show_no_template_comment(client, alice, run):
    page = client.get(f"/jobs/runs/{run.pk}/").content.decode()
    fragment = live(client, run, state="running")
    for html in (page, fragment):
        assert "{#" not in html and "#}" not in html and "live part" not in html


def test_the_overall_figure_says_counting_until_every_folder_is_counted(client, alice, run):
    folder(run, "INBOX", "running", total=1200, done=1202 - 2)
    folder(run, "Archive", "pending")  # listed, not opened yet: its count is unknown
    html = live(client, run, state="running")
    assert "counting…" in html and "1,200</strong> messages so far" in html
    progress = re.search(r'<progress class="overall"[^>]*>', html).group(0)
    assert "value=" not in progress  # indeterminate: no percentage that would shrink later


def test_the_overall_total_rate_and_time_left_come_from_the_folder_rows(client, alice, run):
    # The run's own running totals lag behind (written by the recorder); the rows are the truth.
    JobRun.objects.filter(pk=run.pk).update(messages_total=1232, messages_fetched=1202)
    folder(run, "INBOX", "done", total=1200, done=1200, nbytes=60_000_000)
    folder(run, "Archive", "running", total=1180, done=0)
    html = live(client, run, state="running")
    assert "1,200 of 2,380</strong> messages" in html
    assert 'value="1200" max="2380"' in html
    # 1,200 messages and 60 MB in the 60 s (and the few milliseconds of the test) since start.
    per_second, kb = re.search(r"([\d.]+) messages/s, ([\d.]+)\xa0KB/s", html).groups()
    assert per_second == "20" and 970 < float(kb) <= 976.6
    assert "about 59 s left" in html  # 1,180 messages left at 20 a second


def test_a_refresh_never_shows_a_bar_below_what_the_page_showed(client, alice, run):
    folder(run, "INBOX", "done", total=100, done=100)
    folder(run, "Archive", "running", total=300, done=0)  # re-counted higher than before
    html = live(client, run, state="running", shown=500)
    assert 'value="200" max="400"' in html and "All folders: 50%" in html
    assert "shown=500" in html  # the next refresh keeps the floor
    assert 'value="100" max="400"' in live(client, run, state="running")

    folder(run, "Late", "pending")  # a folder whose row came late: counting again
    html = live(client, run, state="running", shown=500)
    assert "counting…" in html and 'value="500" max="1000"' in html and "shown=500" in html


def test_the_refresh_sends_a_new_header_only_when_the_state_changed(client, alice, run):
    folder(run, "INBOX", "running", total=10, done=4)
    assert "run-header" not in live(client, run, state="running")

    html = live(client, run, state="queued")
    assert f'id="run-header-{run.pk}"' in html and 'hx-swap-oob="true"' in html
    assert "Cancel run" in html

    FolderRun.objects.filter(run=run).update(state="failed", error="NO [ALERT] gone")
    JobRun.objects.filter(pk=run.pk).update(state=State.PARTIAL, finished_at=timezone.now())
    html = live(client, run, state="running")
    header = html.split(f'id="run-live-{run.pk}"')[0]
    assert "Cancel run" not in header and "Retry failed folders" in header
    assert 'data-state="partial"' in header and "hx-trigger" not in html


def test_times_are_shown_in_the_site_time_zone_with_its_name(client, alice, run, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    when = dt.datetime(2026, 1, 15, 9, 30, tzinfo=dt.UTC)
    JobRun.objects.filter(pk=run.pk).update(queued_at=when, started_at=when)
    page = client.get(f"/jobs/runs/{run.pk}/").content.decode()
    assert 'queued <time datetime="2026-01-15T09:30:00+00:00">2026-01-15 10:30 CET</time>' in page
    history = client.get("/jobs/runs/").content.decode()
    assert "2026-01-15 10:30 CET" in history


def test_the_page_shows_bytes_of_the_bytes_to_fetch_where_every_folder_told_its_size(
    client, alice, run
):
    inbox = folder(run, "INBOX", "running", total=10, done=4, nbytes=2 * 1024 * 1024)
    FolderRun.objects.filter(pk=inbox.pk).update(total_bytes=5 * 1024 * 1024)
    sent = folder(run, "Sent", "done", total=2, done=2, nbytes=1024 * 1024)
    FolderRun.objects.filter(pk=sent.pk).update(total_bytes=1024 * 1024)
    text = visible_text(live(client, run, state="running"))
    assert "6 of 12" in " ".join(text.split())  # the messages
    assert "3.0\xa0MB of 6.0\xa0MB" in text  # all folders
    assert "2.0\xa0MB of 5.0\xa0MB" in text  # INBOX's row
    folder(run, "Archive", "running", total=5, done=1, nbytes=1000)  # told no size
    text = visible_text(live(client, run, state="running"))
    assert "3.0\xa0MB of" not in text and "2.0\xa0MB of 5.0\xa0MB" in text


def test_a_mass_deletion_warning_shows_per_folder_until_acknowledged_once(client, alice, run):
    warning = "Possible mass deletion: 9 of 10 messages (90%) gone from the server"
    JobRun.objects.filter(pk=run.pk).update(
        state=State.SUCCEEDED, warning=warning, vanished={"INBOX": 9}
    )
    page = visible_text(client.get(f"/jobs/runs/{run.pk}/").content.decode())
    assert warning in page and "INBOX: 9 gone from the server" in page
    assert "Acknowledge" in page
    for _ in range(2):
        client.post(f"/jobs/runs/{run.pk}/acknowledge/")
    page = visible_text(client.get(f"/jobs/runs/{run.pk}/").content.decode())
    assert "Acknowledged" in page
    assert AuditEvent.objects.filter(action="run.acknowledge_warning").count() == 1
