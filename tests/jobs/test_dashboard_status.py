"""The dashboard's account table: a backup is a backup (a restore, sync or export is not), a
verification is shown apart, and the age of the newest archived message tells a stuck backup."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.models import Account
from archive.models import Blob, Folder, Message
from jobs.models import Job, JobRun

pytestmark = pytest.mark.django_db
State, Kind = JobRun.State, Job.Kind


@pytest.fixture
def alice(client):
    user = get_user_model().objects.create_superuser("alice", "alice@example.org", "pw")
    client.force_login(user)
    return user


@pytest.fixture
def account():
    return Account.objects.create(name="Work mail", host="imap.example.org", username="me")


def finished(account, kind, state, days_ago, name=None) -> JobRun:
    job, _ = Job.objects.get_or_create(
        name=name or f"{kind} job", defaults={"account": account, "kind": kind}
    )
    when = timezone.now() - dt.timedelta(days=days_ago)
    return JobRun.objects.create(job=job, account=account, state=state, finished_at=when)


def test_a_restore_sync_or_export_is_not_the_accounts_last_backup(client, alice, account):
    backup = finished(account, Kind.BACKUP, State.SUCCEEDED, days_ago=3)
    for kind in (Kind.RESTORE, Kind.SYNC, Kind.EXPORT):
        finished(account, kind, State.SUCCEEDED, days_ago=0)

    row = client.get("/").context["board"].accounts[0]
    assert row.last_backup == backup and row.last_success == backup
    summary = account.backup_summary()
    assert summary.last_run_at == backup.finished_at  # the accounts list says the same


def test_the_last_success_is_the_last_successful_backup_not_the_last_run(client, alice, account):
    good = finished(account, Kind.BACKUP, State.SUCCEEDED, days_ago=5)
    failed = finished(account, Kind.BACKUP, State.FAILED, days_ago=1)
    response = client.get("/")
    html, row = response.content.decode(), response.context["board"].accounts[0]
    assert row.last_backup == failed and row.last_success == good
    assert f'class="last-backup"><a href="/jobs/runs/{failed.pk}/">' in html


def test_the_dashboard_shows_the_last_verify_and_the_age_of_the_newest_message(
    client, alice, account
):
    verify = finished(account, Kind.VERIFY, State.SUCCEEDED, days_ago=2)
    folder = Folder.objects.create(account=account, name="INBOX", raw_name="INBOX", uidvalidity=1)
    blob = Blob.objects.create(sha256="a" * 64, size=10, stored_size=10)
    newest = timezone.now() - dt.timedelta(days=12)
    for uid, age in ((1, 40), (2, 12)):
        Message.objects.create(
            folder=folder, uid=uid, blob=blob, size=10,
            internal_date=timezone.now() - dt.timedelta(days=age),
        )  # fmt: skip

    response = client.get("/")
    row = response.context["board"].accounts[0]
    assert row.last_verify == verify and row.last_backup is None
    assert abs(row.newest_message_at - newest) < dt.timedelta(seconds=5)
    html = response.content.decode()
    assert "1\xa0week, 5\xa0days old" in html
    assert f'class="last-verify wide-only"><a href="/jobs/runs/{verify.pk}/">' in html


def test_a_scheduled_sync_that_never_succeeded_is_not_called_a_missing_backup(
    client, alice, account
):
    job = Job.objects.create(
        name="Mirror", account=account, kind=Kind.SYNC, destination=account, schedule="daily",
        time_of_day=dt.time(2, 0),
    )  # fmt: skip
    Job.objects.filter(pk=job.pk).update(created_at=timezone.now() - dt.timedelta(days=5))
    html = client.get("/").content.decode()
    assert "Mirror: no successful sync ever" in html and "no successful backup" not in html
