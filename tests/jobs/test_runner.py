"""The run logic as plain functions, against the real Dovecot (no worker): what tasks call."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from archive.models import Message
from jobs import leases, reaper, runner
from jobs.engine import reconnect
from jobs.models import FolderRun, Job, JobRun
from tests.corpus import pick
from tests.helpers.jobs import make_account, make_job
from tests.servers.mailbox import seed_mailbox

# Also run against PostgreSQL (make test): leases and claims are conditional UPDATEs there too.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]
State = JobRun.State
FOLDERS = ("INBOX", "Ünïcode Ordner", "Archive")


@pytest.fixture
def seeded(dovecot, mail_user):
    return seed_mailbox(dovecot, mail_user, pick(without=("malformed",), limit=9), FOLDERS)


@pytest.fixture
def account(dovecot, mail_user, seeded):
    return make_account(dovecot, mail_user)


def run_inline(job, how=JobRun.Trigger.COMMAND) -> JobRun:
    run, created = runner.trigger(job, how, send=False)
    assert created
    result = runner.execute(run.pk, worker="test")
    assert result is not None
    return result


def test_a_run_records_every_folder_with_counts_and_a_log(celery_broker, account, seeded):
    run = run_inline(make_job(account))
    assert run.state == State.SUCCEEDED, run.error
    assert run.messages_fetched == len(seeded) == Message.objects.count()
    assert run.bytes_fetched > 0 and run.attempts == 1
    folders = {f.folder: f for f in run.folders.all()}
    assert set(FOLDERS) <= set(folders)
    assert all(f.state == FolderRun.State.DONE and f.done == f.total for f in folders.values())
    assert "all 9 messages on the server are in the archive" in run.summary
    assert "Run started" in run.log and "Run ended: succeeded" in run.log
    assert not leases.holder(account.pk)


def test_a_wrong_password_fails_at_once_with_a_clear_message(celery_broker, dovecot, mail_user):
    account = make_account(dovecot, mail_user, password="not-the-password")
    run = run_inline(make_job(account))
    assert run.state == State.FAILED
    assert run.error_kind == "auth" and run.transient_retries == 0
    assert "not-the-password" not in run.error + run.log
    assert run.error


def test_two_triggers_at_once_give_one_queued_run(celery_broker, account):
    job = make_job(account)
    barrier, results = threading.Barrier(2), []

    def fire():
        barrier.wait()
        results.append(runner.trigger(job, send=False))
        connection.close()

    threads = [threading.Thread(target=fire) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({run.pk for run, _ in results}) == 1
    assert sorted(created for _, created in results) == [False, True]
    assert JobRun.objects.count() == 1


def test_a_trigger_while_running_is_queued_once(celery_broker, account):
    job = make_job(account)
    first, _ = runner.trigger(job, send=False)
    JobRun.objects.filter(pk=first.pk).update(state=State.RUNNING)
    second, created = runner.trigger(job, send=False)
    third, created_again = runner.trigger(job, send=False)
    assert created and not created_again and second.pk == third.pk != first.pk
    assert JobRun.objects.filter(state=State.QUEUED).count() == 1


def test_a_second_run_of_the_same_account_waits_for_the_lease(celery_broker, account):
    other_job = make_job(account, name="other")
    holder_run = JobRun.objects.create(job=other_job, account=account, state=State.RUNNING)
    assert leases.acquire(account.pk, holder_run.pk)
    waiting, _ = runner.trigger(make_job(account), send=False)
    assert runner.execute(waiting.pk) is None
    assert JobRun.objects.get(pk=waiting.pk).state == State.QUEUED
    leases.release(account.pk, holder_run.pk)
    assert runner.execute(waiting.pk).state == State.SUCCEEDED


def test_an_expired_lease_is_taken_over(account):
    from jobs.models import AccountLease

    job = make_job(account)
    dead = JobRun.objects.create(job=job, account=account, state=State.RUNNING)
    other = JobRun.objects.create(job=job, account=account, state=State.RUNNING)
    assert leases.acquire(account.pk, dead.pk)
    assert not leases.acquire(account.pk, other.pk)
    AccountLease.objects.filter(account=account).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert leases.acquire(account.pk, other.pk)
    assert not leases.renew(account.pk, dead.pk)
    assert leases.holder(account.pk) == other.pk


def test_the_reaper_interrupts_a_silent_run_and_queues_one_that_resumes(celery_broker, account):
    job = make_job(account)
    stale = timezone.now() - dt.timedelta(minutes=10)
    run = JobRun.objects.create(
        job=job, account=account, state=State.RUNNING, started_at=stale, heartbeat_at=stale,
        attempts=1,
    )  # fmt: skip
    leases.acquire(account.pk, run.pk)
    assert reaper.reap_stale_runs() == 1
    run.refresh_from_db()
    assert run.state == State.INTERRUPTED and "no heartbeat" in run.error
    resume = JobRun.objects.get(resumes=run)
    assert resume.state == State.QUEUED and resume.attempts == 1
    assert runner.execute(resume.pk).state == State.SUCCEEDED


def test_a_run_that_keeps_killing_its_worker_is_quarantined(celery_broker, account, settings):
    settings.JOBS_MAX_ATTEMPTS = 3
    stale = timezone.now() - dt.timedelta(minutes=10)
    run = JobRun.objects.create(
        job=make_job(account), account=account, state=State.RUNNING, heartbeat_at=stale,
        attempts=3,
    )  # fmt: skip
    reaper.reap_stale_runs()
    run.refresh_from_db()
    assert run.state == State.INTERRUPTED and "Quarantined" in run.error
    assert not JobRun.objects.filter(resumes=run).exists()


def unreachable_job(dovecot, mail_user, monkeypatch) -> Job:
    monkeypatch.setattr(reconnect, "BACKOFF_BASE", 0.01)  # the engine's own reconnect backoff
    account = make_account(dovecot, mail_user, name="unreachable")
    account.port = 1  # nothing listens there: connection refused, a transient error
    account.save()
    return make_job(account)


def test_a_transient_failure_is_requeued_with_backoff(
    celery_broker, dovecot, mail_user, monkeypatch
):
    run = run_inline(unreachable_job(dovecot, mail_user, monkeypatch), JobRun.Trigger.SCHEDULE)
    run.refresh_from_db()
    assert run.state == State.QUEUED and run.transient_retries == 1
    assert run.not_before > timezone.now() and run.attempts == 0
    assert "Retrying in" in run.log


def test_a_command_line_run_reports_a_transient_failure_at_once(
    celery_broker, dovecot, mail_user, monkeypatch
):
    run = run_inline(unreachable_job(dovecot, mail_user, monkeypatch))
    assert run.state == State.FAILED and run.error_kind == "transient"
    assert "refused the connection" in run.error and run.transient_retries == 0


def test_retry_failed_folders_runs_only_those_folders(celery_broker, account):
    first = run_inline(make_job(account))
    FolderRun.objects.filter(run=first, folder="Archive").update(state=FolderRun.State.FAILED)
    retry, created = runner.retry_failed_folders(first)
    assert created and retry.only_folders == ["Archive"] and retry.resumes == first
    JobRun.objects.filter(pk=retry.pk).update(enqueued_at=timezone.now())
    result = runner.execute(retry.pk)
    assert result.state == State.SUCCEEDED
    assert list(result.folders.values_list("folder", flat=True)) == ["Archive"]


def test_cancel_of_a_queued_run_is_immediate(account):
    run, _ = runner.trigger(make_job(account), send=False)
    assert runner.cancel(run)
    assert JobRun.objects.get(pk=run.pk).state == State.CANCELLED
    assert runner.execute(run.pk) is None


def test_the_command_line_runs_a_job_and_reports(celery_broker, account, capsys):
    job = make_job(account, name="nightly")
    call_command("run_job", "nightly")
    out = capsys.readouterr().out
    run = job.runs.get()
    assert run.trigger == JobRun.Trigger.COMMAND and run.state == State.SUCCEEDED
    assert f"Run #{run.pk} succeeded" in out


def test_the_log_stays_bounded():
    from jobs.models import LOG_MAX_CHARS
    from jobs.progress import bound_log

    log = "".join(f"{i:06d} some line of log text\n" for i in range(20_000))
    bounded = bound_log(log)
    assert len(bounded) <= LOG_MAX_CHARS
    assert bounded.startswith("000000")
    assert bounded.rstrip().endswith("019999 some line of log text")
    assert "lines left out" in bounded


def test_a_redelivered_message_of_a_run_that_already_ended_does_nothing(celery_broker, account):
    from jobs.tasks import run_job

    run = run_inline(make_job(account))
    before = JobRun.objects.filter(pk=run.pk).values().get()
    folders = list(FolderRun.objects.filter(run=run).values())
    assert run_job.apply(args=(run.pk,)).get() is None  # Redis hands the message out again
    assert JobRun.objects.filter(pk=run.pk).values().get() == before
    assert list(FolderRun.objects.filter(run=run).values()) == folders
    assert JobRun.objects.count() == 1


def test_a_run_whose_worker_died_is_marked_within_a_minute_and_its_message_comes_back_in_minutes(
    settings,
):
    # The reaper marks a run silent for JOBS_STALE_SECONDS; beat runs it every JOBS_REAP_SECONDS.
    assert settings.JOBS_STALE_SECONDS + settings.JOBS_REAP_SECONDS <= 60
    assert settings.JOBS_HEARTBEAT_SECONDS < settings.JOBS_STALE_SECONDS / 3
    assert settings.CELERY_BEAT_SCHEDULE["jobs-reap"]["schedule"] == settings.JOBS_REAP_SECONDS
    # A killed worker never acknowledges its message: Redis hands it out again after this.
    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] <= 600
