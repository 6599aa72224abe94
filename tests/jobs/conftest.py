"""Jobs test helpers: accounts on the test Dovecot, real Celery workers and beat on a real Redis.

Worker processes use the app's own settings (backupweb.settings) with DATA_DIR, DATABASE_URL
(the test database file) and REDIS_URL from the environment, and short heartbeat and stale
timings so recovery tests take seconds, not minutes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from urllib.parse import quote

import pytest
from django.db import connection

from accounts.models import Account
from jobs.models import Job, JobRun
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.worker import BASE_DIR, CeleryWorker

STALE_SECONDS = 4


def make_account(dovecot: Dovecot, user: MailUser, password: str | None = None, **fields):
    account = Account(
        name=fields.pop("name", user.username),
        protocol="imap",
        host="127.0.0.1",
        port=dovecot.imap_port,
        security="none",
        username=user.username,
        **fields,
    )
    account.set_secret(password or user.password)
    account.save()
    return account


def make_job(account: Account, name: str | None = None, **fields) -> Job:
    return Job.objects.create(name=name or f"Backup {account.name}", account=account, **fields)


def wait_for(predicate: Callable[[], object], timeout: float = 30, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def run_state(run: JobRun) -> str:
    return JobRun.objects.values_list("state", flat=True).get(pk=run.pk)


def wait_for_state(run: JobRun, states: tuple[str, ...] | str, timeout: float = 60) -> JobRun:
    wanted = (states,) if isinstance(states, str) else states
    wait_for(lambda: run_state(run) in wanted, timeout, f"run {run.pk} to be {wanted}")
    run.refresh_from_db()
    return run


@pytest.fixture
def celery_broker(redis_server, use_redis):
    """Point this process's Celery app at the test Redis (it publishes the run ids), empty."""
    import redis

    from backupweb.celery import app

    if app.conf.broker_url != redis_server.url:
        # Pools are created on first use; drop any made for another URL (never close them:
        # kombu keeps producer pools in a global registry keyed by connection).
        app.conf.broker_url = redis_server.url
        app._pool = None
        app.amqp._producer_pool = None
    redis.Redis.from_url(redis_server.url).flushdb()
    return redis_server


def database_url_for_workers() -> str:
    """The URL of the database this test uses (the test file or the test PostgreSQL DB)."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = f"{quote(db['USER'])}:{quote(db['PASSWORD'])}@" if db["USER"] else ""
    return f"postgres://{auth}{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.fixture
def worker_env(redis_server, transactional_db) -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "backupweb.settings",
        "DATA_DIR": os.environ["DATA_DIR"],
        "DATABASE_URL": database_url_for_workers(),
        "REDIS_URL": redis_server.url,
        "JOBS_HEARTBEAT_SECONDS": "1",
        "JOBS_STALE_SECONDS": str(STALE_SECONDS),
        "JOBS_HOUSEKEEPING_SECONDS": "1",
        "JOBS_RETRY_BACKOFF_SECONDS": "1",
        "LOG_LEVEL": "INFO",
    }


@pytest.fixture
def start_worker(worker_env, celery_broker):
    """Start real worker processes; all are stopped at the end of the test."""
    workers: list[CeleryWorker] = []

    def start(name: str = "w1", concurrency: int = 1) -> CeleryWorker:
        worker = CeleryWorker.start(worker_env, name=name, concurrency=concurrency)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture
def start_beat(worker_env, tmp_path):
    """A real `celery beat` with the DatabaseScheduler (job schedules live in the database)."""
    processes: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        command = [
            sys.executable, "-m", "celery", "-A", "backupweb", "beat", "--loglevel", "INFO",
            "--schedule", str(tmp_path / "beat-schedule"), "--max-interval", "1",
        ]  # fmt: skip
        process = subprocess.Popen(
            command, cwd=BASE_DIR, env={**os.environ, **worker_env}, start_new_session=True
        )
        processes.append(process)
        return process

    yield start
    for process in processes:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
