"""The job page: one primary action, Delete set apart, and options that fit the job's kind."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model

from accounts.models import Account
from jobs.models import Job

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(client):
    user = get_user_model().objects.create_superuser("alice", "alice@example.org", "pw")
    client.force_login(user)
    return user


@pytest.fixture
def accounts():
    make = Account.objects.create
    return make(name="Old", host="imap.example.org", username="a"), make(
        name="New", host="imap.example.net", username="b"
    )


def buttons(html: str) -> dict[str, str]:
    """Each button's label and its class attribute."""
    found = re.findall(r'<button type="submit"(?: class="([^"]*)")?[^>]*>([^<]+)</button>', html)
    return {label.strip(): css for css, label in found}


def test_delete_stands_out_from_the_other_job_buttons(client, alice, accounts):
    job = Job.objects.create(name="Nightly", account=accounts[0])
    html = client.get(f"/jobs/{job.pk}/").content.decode()
    found = buttons(html)
    assert "danger" in found["Delete job"]
    others = [found["Run now"], found["Duplicate"], found["Send test notification"]]
    assert len(set(others)) == 3 and all("danger" not in css for css in others)
    delete_form = re.search(rf'<form[^>]*action="/jobs/{job.pk}/delete/"[^>]*>', html).group(0)
    assert "push-right" in delete_form


def test_a_restore_job_offers_no_stale_run_notification(client, alice, accounts):
    source, dest = accounts
    form = client.get(f"/jobs/restore/new/?account={source.pk}").content.decode()
    assert "notify_stale_days" not in form and "no successful run" not in form
    backup_form = client.get("/jobs/new/").content.decode()
    assert "notify_stale_days" in backup_form

    job = Job.objects.create(
        name="Put back", kind=Job.Kind.RESTORE, account=source, destination=dest,
        notify_stale_days=3,
    )  # fmt: skip
    assert "no success for" not in client.get(f"/jobs/{job.pk}/").content.decode()
    assert "notify_stale_days" not in client.get(f"/jobs/{job.pk}/edit/").content.decode()


def test_the_notifications_line_lists_the_events_without_a_dangling_comma(client, alice, accounts):
    job = Job.objects.create(name="Nightly", account=accounts[0], notify_stale_days=2)
    html = client.get(f"/jobs/{job.pk}/").content.decode()
    assert "failure, parked messages, authentication failure, no success for 2 days" in html
    Job.objects.filter(pk=job.pk).update(notify_stale_days=None)
    html = client.get(f"/jobs/{job.pk}/").content.decode()
    assert "authentication failure\n" in html and "authentication failure," not in html
