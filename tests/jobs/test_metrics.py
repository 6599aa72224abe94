"""/metrics as Prometheus reads it: the exposition parsed by the client's own parser."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from accounts.models import Account
from archive.models import Folder
from jobs.models import Job, JobRun

pytestmark = pytest.mark.django_db
State = JobRun.State
NOW = timezone.now().replace(microsecond=0)


@pytest.fixture
def account():
    return Account.objects.create(name='Work "mail"', host="imap.example.org", username="me")


@pytest.fixture
def scraper(client, settings):
    settings.METRICS_TOKEN = "s3cret"

    def scrape() -> dict[str, dict[tuple, float]]:
        response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret")
        assert response.status_code == 200
        assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        return {
            family.name: {tuple(sorted(s.labels.items())): s.value for s in family.samples}
            for family in text_string_to_metric_families(response.content.decode())
        }

    return scrape


def finished(account, kind: str, state: str, when: dt.datetime) -> JobRun:
    job = Job.objects.create(name=f"{kind} {state} {when}", kind=kind, account=account)
    return JobRun.objects.create(job=job, account=account, state=state, finished_at=when)


def test_the_last_success_is_the_last_successful_backup_not_a_later_restore_or_sync(
    account, scraper
):
    finished(account, Job.Kind.BACKUP, State.SUCCEEDED, NOW - dt.timedelta(hours=5))
    finished(account, Job.Kind.BACKUP, State.FAILED, NOW - dt.timedelta(hours=3))
    for kind in (Job.Kind.RESTORE, Job.Kind.SYNC, Job.Kind.EXPORT, Job.Kind.VERIFY):
        finished(account, kind, State.SUCCEEDED, NOW - dt.timedelta(hours=1))
    metrics = scraper()
    backup = (NOW - dt.timedelta(hours=5)).timestamp()
    label = (("account", 'Work "mail"'),)
    assert metrics["backupweb_last_success_timestamp_seconds"] == {label: backup}
    verify = (NOW - dt.timedelta(hours=1)).timestamp()
    assert metrics["backupweb_last_verify_timestamp_seconds"] == {label: verify}


def test_an_account_whose_only_success_is_a_restore_has_no_last_backup(account, scraper):
    finished(account, Job.Kind.RESTORE, State.SUCCEEDED, NOW)
    finished(account, Job.Kind.SYNC, State.SUCCEEDED, NOW)
    metrics = scraper()
    assert metrics["backupweb_last_success_timestamp_seconds"] == {}
    assert metrics["backupweb_last_verify_timestamp_seconds"] == {}
    assert metrics["backupweb_runs"][(("state", "succeeded"),)] == 2


def test_runs_by_state_and_archived_figures_per_account_keep_their_names(account, scraper):
    for name, count, size in (("INBOX", 7, 7000), ("Sent", 3, 300)):
        Folder.objects.create(
            account=account, name=name, raw_name=name, message_count=count, total_bytes=size
        )
    finished(account, Job.Kind.BACKUP, State.PARTIAL, NOW)
    metrics = scraper()
    assert metrics["backupweb_runs"] == {
        (("state", s),): (1 if s == State.PARTIAL else 0) for s in State.values
    }
    label = (("account", 'Work "mail"'),)
    assert metrics["backupweb_archived_messages"] == {label: 10}
    assert metrics["backupweb_archived_bytes"] == {label: 7300}


def test_metrics_are_for_staff_or_the_token_and_say_how_to_authenticate(client, settings):
    settings.METRICS_TOKEN = ""
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer ")
    assert response.status_code == 401 and response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    viewer = get_user_model().objects.create_user("vera", password="pw")
    client.force_login(viewer)  # no profile: a viewer
    assert client.get("/metrics").status_code == 401
    admin = get_user_model().objects.create_superuser("alice", "a@example.org", "pw")
    client.force_login(admin)
    assert b"# TYPE backupweb_runs gauge" in client.get("/metrics").content
