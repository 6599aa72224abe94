"""Fixtures for real Celery workers and beat on the session's Redis, shared by every test
folder through tests/conftest.py."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers.jobs import (
    STALE_SECONDS,
    database_url_for_workers,
)
from tests.servers.worker import BASE_DIR, CeleryWorker


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
        "JOBS_REAP_SECONDS": "1",
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
