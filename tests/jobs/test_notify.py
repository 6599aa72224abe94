"""Notifications go out through Apprise URLs to a real local SMTP server and a webhook."""

from __future__ import annotations

from email import message_from_bytes

import pytest
from aiosmtpd.controller import Controller

from jobs import notify, runner
from jobs.models import JobRun
from tests.helpers.jobs import make_account, make_job, wait_for, wait_for_state
from tests.servers.common import free_port

pytestmark = pytest.mark.django_db(transaction=True)


class Inbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's API)
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    inbox.url = (
        f"mailto://127.0.0.1:{controller.port}?mode=insecure"
        "&from=backupweb@example.org&to=admin@example.org"
    )
    yield inbox
    controller.stop()


def body_of(message) -> str:
    part = message.get_body(("plain",)) if hasattr(message, "get_body") else None
    payload = (part or message).get_payload(decode=True)
    return payload.decode() if payload else str(message.get_payload())


def test_a_failed_job_sends_an_email_and_a_webhook_from_the_worker(
    start_worker, dovecot, mail_user, smtp_server, webhook, settings
):
    account = make_account(dovecot, mail_user, password="expired-app-password")
    job = make_job(account, name="Nightly mail")
    job.set_notify_urls([smtp_server.url, webhook.url])  # what the job form stores
    job.save()
    start_worker()
    run = wait_for_state(runner.trigger(job)[0], JobRun.State.FAILED)
    wait_for(lambda: smtp_server.messages and webhook.received, what="both notifications")
    mail = smtp_server.messages[0]
    assert "authentication failed" in mail["Subject"] and account.name in mail["Subject"]
    text = body_of(mail)
    assert "Job: Nightly mail" in text and f"Account: {account.name}" in text
    assert f"{settings.SITE_URL}/jobs/runs/{run.pk}/" in text
    assert "Error: " in text and "expired-app-password" not in text
    hook = webhook.received[0]
    assert hook["path"] == "/backup-hook" and hook["body"]["type"] == "failure"
    assert f"/jobs/runs/{run.pk}/" in hook["body"]["message"]


def test_a_job_without_urls_uses_the_site_default(settings, webhook, dovecot, mail_user):
    settings.NOTIFY_URLS = [webhook.url]
    job = make_job(make_account(dovecot, mail_user))
    assert notify.send_test(job).ok
    assert "Test notification" in webhook.received[0]["body"]["message"]


def test_success_is_quiet_unless_asked_for(settings, webhook, dovecot, mail_user):
    settings.NOTIFY_URLS = [webhook.url]
    job = make_job(make_account(dovecot, mail_user))
    run = JobRun.objects.create(job=job, account=job.account, state=JobRun.State.SUCCEEDED)
    assert notify.run_finished(run) is None
    job.notify_on_success = True
    job.save()
    run.job = job
    assert notify.run_finished(run).ok
    assert webhook.received[0]["body"]["type"] == "success"


def test_parked_messages_are_reported_even_on_a_successful_run(
    settings, webhook, dovecot, mail_user
):
    settings.NOTIFY_URLS = [webhook.url]
    job = make_job(make_account(dovecot, mail_user))
    run = JobRun.objects.create(
        job=job, account=job.account, state=JobRun.State.SUCCEEDED, messages_parked=2
    )
    assert notify.run_finished(run).ok
    assert "Parked messages (retried next run): 2" in webhook.received[0]["body"]["message"]


def test_no_successful_backup_for_n_days_is_told_once(settings, webhook, dovecot, mail_user):
    import datetime as dt

    from django.utils import timezone

    from jobs import reaper
    from jobs.models import Job

    settings.NOTIFY_URLS = [webhook.url]
    job = make_job(make_account(dovecot, mail_user), notify_stale_days=2)
    Job.objects.filter(pk=job.pk).update(created_at=timezone.now() - dt.timedelta(days=3))
    assert reaper.notify_stale_jobs() == 1
    assert reaper.notify_stale_jobs() == 0
    assert "no successful backup" in webhook.received[0]["body"]["title"]
