"""Job pages, schedules kept in beat's tables, history, the progress fragment and /metrics."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from accounts.models import Account
from jobs import schedules
from jobs.models import FolderRun, Job, JobRun

pytestmark = pytest.mark.django_db
State = JobRun.State


@pytest.fixture
def alice(client):
    user = get_user_model().objects.create_superuser("alice", "alice@example.org", "pw")
    client.force_login(user)
    return user


@pytest.fixture
def account():
    return Account.objects.create(name="Work mail", host="imap.example.org", username="me")


def form_data(account, **overrides) -> dict:
    data = {
        "name": "Nightly",
        "kind": "backup",
        "account": account.pk,
        "schedule": "daily",
        "time_of_day": "02:30",
        "enabled": "on",
        "notify_on_failure": "on",
        "folders": "INBOX\nSent",
        "exclude": "Spam*",
    }
    return {**data, **overrides}


def test_creating_a_daily_job_schedules_it_in_beat(client, alice, account, settings):
    response = client.post("/jobs/new/", form_data(account))
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.pk}/"
    task = PeriodicTask.objects.get()
    assert task.task == "jobs.fire_job" and task.args == f"[{job.pk}]" and task.enabled
    assert (task.crontab.hour, task.crontab.minute) == ("2", "30")
    assert str(task.crontab.timezone) == settings.TIME_ZONE
    assert job.options["folders"] == ["INBOX", "Sent"] and job.options["exclude"] == ["Spam*"]
    next_run = schedules.next_run(job)
    assert next_run and next_run.astimezone(dt.UTC).strftime("%H:%M") == "02:30"


def test_editing_the_schedule_updates_the_same_periodic_task(client, alice, account):
    client.post("/jobs/new/", form_data(account))
    job = Job.objects.get()
    data = form_data(account, schedule="weekly", weekdays=["1", "5"], time_of_day="06:00")
    client.post(f"/jobs/{job.pk}/edit/", data)
    task = PeriodicTask.objects.get()
    assert task.crontab.day_of_week == "1,5" and task.crontab.hour == "6"
    client.post(f"/jobs/{job.pk}/edit/", form_data(account, schedule="cron", cron="*/15 * * * *"))
    assert PeriodicTask.objects.get().crontab.minute == "*/15"
    client.post(f"/jobs/{job.pk}/edit/", form_data(account, enabled=""))
    assert PeriodicTask.objects.get().enabled is False
    client.post(f"/jobs/{job.pk}/edit/", form_data(account, schedule="manual"))
    assert not PeriodicTask.objects.exists()


def test_interval_schedules_and_deleting_a_job_removes_its_task(client, alice, account):
    client.post("/jobs/new/", form_data(account, schedule="interval", interval_hours="6"))
    job = Job.objects.get()
    assert PeriodicTask.objects.get().interval.every == 6
    assert schedules.describe(job) == "every 6 hours"
    client.post(f"/jobs/{job.pk}/delete/")
    assert not Job.objects.exists() and not PeriodicTask.objects.exists()


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"schedule": "cron", "cron": "61 * * * *"}, "cron"),
        ({"schedule": "cron", "cron": "* * *"}, "cron"),
        ({"schedule": "weekly"}, "weekdays"),
        ({"schedule": "interval"}, "interval_hours"),
        ({"notify_urls": "not a url at all"}, "notify_urls"),
    ],
)
def test_bad_schedules_and_urls_are_refused_with_a_message(
    client, alice, account, overrides, field
):
    response = client.post("/jobs/new/", form_data(account, **overrides))
    assert response.status_code == 200 and field in response.context["form"].errors
    assert not Job.objects.exists()


def test_notification_urls_are_stored_encrypted_and_never_shown(client, alice, account):
    url = "json://hooks.example.org/secret-token-123"
    client.post("/jobs/new/", form_data(account, notify_urls=url))
    job = Job.objects.get()
    assert job.get_notify_urls() == [url] and "secret-token" not in job.notify_urls_encrypted
    page = client.get(f"/jobs/{job.pk}/edit/").content.decode()
    assert "secret-token" not in page
    client.post(f"/jobs/{job.pk}/edit/", form_data(account))  # empty field keeps them
    assert Job.objects.get().get_notify_urls() == [url]


def test_duplicating_a_job_copies_it_disabled(client, alice, account):
    client.post("/jobs/new/", form_data(account, notify_urls="json://h.example.org/x"))
    job = Job.objects.get()
    response = client.post(f"/jobs/{job.pk}/duplicate/")
    copy = Job.objects.exclude(pk=job.pk).get()
    assert response["Location"] == f"/jobs/{copy.pk}/edit/"
    assert copy.name == "Nightly (copy)" and not copy.enabled and copy.uid != job.uid
    assert copy.options == job.options and copy.get_notify_urls() == ["json://h.example.org/x"]
    assert PeriodicTask.objects.count() == 2


def test_one_click_daily_backup_for_an_account(client, alice, account):
    response = client.post(f"/jobs/add-daily/{account.pk}/")
    job = Job.objects.get()
    assert response["Location"] == f"/jobs/{job.pk}/"
    assert job.schedule == Job.Schedule.DAILY and job.account == account and job.enabled
    client.post(f"/jobs/add-daily/{account.pk}/")
    assert Job.objects.count() == 1  # a second click does not add another


def test_history_filters_by_state_and_account_and_paginates(client, alice, account):
    other = Account.objects.create(name="Other", host="h", username="u")
    job = Job.objects.create(name="a", account=account)
    other_job = Job.objects.create(name="b", account=other)
    for _ in range(60):
        JobRun.objects.create(job=job, account=account, state=State.SUCCEEDED)
    JobRun.objects.create(job=other_job, account=other, state=State.FAILED, error="boom")
    page = client.get("/jobs/runs/?state=failed")
    assert [r.error for r in page.context["page"].object_list] == ["boom"]
    page = client.get(f"/jobs/runs/?account={account.pk}&page=2")
    assert len(page.context["page"].object_list) == 10
    assert f"account={account.pk}&amp;page=1" in page.content.decode()
    today = timezone.localdate().isoformat()
    assert client.get(f"/jobs/runs/?date={today}").context["page"].paginator.count == 61


def test_the_progress_fragment_polls_while_running_and_stops_when_done(client, alice, account):
    job = Job.objects.create(name="a", account=account)
    run = JobRun.objects.create(
        job=job, account=account, state=State.RUNNING, started_at=timezone.now(),
        messages_total=10, messages_fetched=4,
    )  # fmt: skip
    FolderRun.objects.create(run=run, folder="INBOX", state="running", total=10, done=4)
    html = client.get(f"/jobs/runs/{run.pk}/progress/").content.decode()
    assert 'hx-trigger="every 1s"' in html and 'value="4" max="10"' in html
    JobRun.objects.filter(pk=run.pk).update(
        state=State.SUCCEEDED, finished_at=timezone.now(), messages_fetched=10
    )
    FolderRun.objects.filter(run=run).update(state="done", done=10)
    html = client.get(f"/jobs/runs/{run.pk}/progress/").content.decode()
    assert "hx-trigger" not in html and 'value="10" max="10"' in html
    assert "style=" not in html and "<script" not in html


def test_the_dashboard_shows_accounts_running_runs_and_problems(client, alice, account):
    job = Job.objects.create(name="nightly", account=account, schedule="daily",
                             time_of_day=dt.time(2, 0))  # fmt: skip
    Job.objects.filter(pk=job.pk).update(created_at=timezone.now() - dt.timedelta(days=5))
    JobRun.objects.create(job=job, account=account, state=State.FAILED, error="Login refused",
                          finished_at=timezone.now())  # fmt: skip
    JobRun.objects.create(job=job, account=account, state=State.RUNNING)
    html = client.get("/").content.decode()
    assert "Work mail" in html and "Login refused" in html
    assert "no successful backup ever" in html
    assert 'hx-trigger="every 1s"' in html and "<svg" in html and "style=" not in html


def test_metrics_need_a_login_or_the_bearer_token(client, account, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 401
    settings.METRICS_TOKEN = "s3cret"
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    job = Job.objects.create(name="a", account=account)
    JobRun.objects.create(job=job, account=account, state=State.SUCCEEDED,
                          finished_at=timezone.now())  # fmt: skip
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret")
    text = response.content.decode()
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    assert 'backupweb_runs{state="succeeded"} 1' in text
    assert 'backupweb_last_success_timestamp_seconds{account="Work mail"}' in text
