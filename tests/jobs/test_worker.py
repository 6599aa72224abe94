"""Runs on real Celery worker processes and beat, with a real Redis and the real Dovecot."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from archive.models import Message
from jobs import runner
from jobs.models import Job, JobRun
from tests.corpus import pick
from tests.helpers.jobs import STALE_SECONDS, make_account, make_job, wait_for, wait_for_state
from tests.servers.mailbox import seed_mailbox

pytestmark = pytest.mark.django_db(transaction=True)
State = JobRun.State
SLOW = {"bandwidth_limit": 40_000}  # bytes/s: about four seconds for the mailbox below
SMALL_BATCHES = {"batch_bytes": 16_000}  # many batches, so cancel has somewhere to stop


def mid_sized(limit: int):
    return [m for m in pick(without=("malformed",)) if 3000 < m.size < 20000][:limit]


@pytest.fixture
def slow_account(dovecot, mail_user):
    seeded = seed_mailbox(dovecot, mail_user, mid_sized(24), ("INBOX", "Archive"))
    account = make_account(dovecot, mail_user, **SLOW)
    account.seeded = seeded
    return account


def started_with_progress(run: JobRun) -> bool:
    run.refresh_from_db()
    return run.state == State.RUNNING and run.messages_fetched > 0


def test_run_now_is_executed_by_a_worker(start_worker, dovecot, mail_user):
    seeded = seed_mailbox(dovecot, mail_user, mid_sized(6), ("INBOX",))
    start_worker()
    run, _ = runner.trigger(make_job(make_account(dovecot, mail_user)))
    run = wait_for_state(run, State.SUCCEEDED)
    assert run.worker.startswith("w1@") and run.messages_fetched == len(seeded)
    assert Message.objects.count() == len(seeded)


def test_cancel_stops_a_running_backup_at_the_next_batch(start_worker, slow_account):
    start_worker()
    run, _ = runner.trigger(make_job(slow_account, options=SMALL_BATCHES))
    wait_for(lambda: started_with_progress(run), what="the run to make progress")
    assert runner.cancel(run)
    run = wait_for_state(run, State.CANCELLED, timeout=20)
    stored = Message.objects.count()
    assert 0 < stored < len(slow_account.seeded)  # what was stored is kept
    assert "Cancel requested" in run.log


def test_a_killed_worker_leaves_an_interrupted_run_that_the_next_run_resumes(
    start_worker, start_beat, slow_account
):
    first_worker = start_worker("w1")
    start_beat()  # fires the housekeeping (reaper) every second
    run, _ = runner.trigger(make_job(slow_account, options=SMALL_BATCHES))
    wait_for(lambda: started_with_progress(run), what="the run to make progress")
    first_worker.kill()
    stored_before = Message.objects.count()
    slow_account.bandwidth_limit = None  # let the resuming run finish quickly
    slow_account.save()
    start_worker("w2", concurrency=2)
    run = wait_for_state(run, State.INTERRUPTED, timeout=STALE_SECONDS + 20)
    assert "no heartbeat" in run.error
    resume = wait_for(lambda: JobRun.objects.filter(resumes=run).first(), what="a resuming run")
    resume = wait_for_state(resume, State.SUCCEEDED)
    assert resume.worker.startswith("w2@") and resume.attempts == 2
    # It resumed: it fetched only what the killed run had not committed, nothing twice.
    assert resume.messages_fetched == len(slow_account.seeded) - stored_before
    assert Message.objects.count() == len(slow_account.seeded)


def test_a_redis_restart_during_a_backup_loses_nothing_and_the_queue_works_again(
    start_worker, slow_account, redis_server
):
    start_worker("w1")
    job = make_job(slow_account, options=SMALL_BATCHES)
    run, _ = runner.trigger(job)
    wait_for(lambda: started_with_progress(run), what="the run to make progress")
    redis_server.restart()  # the broker goes away mid-run and comes back with its AOF
    # The database is the truth: the running backup does not need Redis to store mail.
    run = wait_for_state(run, State.SUCCEEDED, timeout=60)
    assert Message.objects.count() == len(slow_account.seeded)
    # The worker reconnected: the next trigger goes through the broker and finds nothing new.
    again, _ = runner.trigger(job)
    again = wait_for_state(again, State.SUCCEEDED, timeout=60)
    assert again.messages_fetched == 0
    assert Message.objects.count() == len(slow_account.seeded)


def test_a_large_backup_runs_its_folders_in_processes_inside_a_celery_worker(
    worker_env, start_worker, dovecot, mail_user
):
    # Celery's prefork children are daemonic; multiprocessing refuses children from those
    # unless the engine allows them. A threshold of 1 makes this small mailbox "large".
    worker_env["BACKUP_PROCESS_THRESHOLD"] = "1"
    seeded = seed_mailbox(dovecot, mail_user, mid_sized(8), ("INBOX", "Archive"))
    start_worker()
    run, _ = runner.trigger(make_job(make_account(dovecot, mail_user)))
    run = wait_for_state(run, (State.SUCCEEDED, State.FAILED), timeout=90)
    assert run.state == State.SUCCEEDED, run.error
    assert "worker processes" in run.log
    assert Message.objects.count() == len(seeded)


@pytest.mark.postgres  # several workers sharing one PostgreSQL, as in production
def test_two_workers_run_different_accounts_in_parallel_and_one_account_at_a_time(
    start_worker, dovecot
):
    users = [dovecot.add_user(), dovecot.add_user()]
    accounts = []
    for i, user in enumerate(users):
        seed_mailbox(dovecot, user, mid_sized(24)[i * 8 : i * 8 + 8], ("INBOX",))
        accounts.append(make_account(dovecot, user, bandwidth_limit=30_000))
    start_worker("w1")
    start_worker("w2")
    a1, a2 = make_job(accounts[0], "a1"), make_job(accounts[0], "a2")
    b1 = make_job(accounts[1], "b1")
    runs = [runner.trigger(job)[0] for job in (a1, a2, b1)]
    runs = [wait_for_state(run, State.SUCCEEDED, timeout=90) for run in runs]
    ra1, ra2, rb1 = runs

    def overlap(x: JobRun, y: JobRun) -> bool:
        return x.started_at < y.finished_at and y.started_at < x.finished_at

    assert not overlap(ra1, ra2), "two runs of one account ran at the same time"
    assert overlap(rb1, ra1) or overlap(rb1, ra2), "the second worker sat idle"
    assert {r.worker.split("@")[0] for r in runs} == {"w1", "w2"}


def test_a_scheduled_job_fires_without_restarting_beat(
    start_worker, start_beat, dovecot, mail_user
):
    seed_mailbox(dovecot, mail_user, mid_sized(3), ("INBOX",))
    start_worker()
    start_beat()
    job = make_job(
        make_account(dovecot, mail_user), schedule=Job.Schedule.INTERVAL, interval_hours=1
    )
    # Move time forward: beat last fired it two hours ago, so it is due now.
    task = job.periodic_task
    task.last_run_at = timezone.now() - dt.timedelta(hours=2)
    task.save()
    run = wait_for(lambda: job.runs.first(), timeout=30, what="beat to fire the job")
    assert run.trigger == JobRun.Trigger.SCHEDULE
    wait_for_state(run, State.SUCCEEDED)
