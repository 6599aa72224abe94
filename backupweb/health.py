"""What /healthz reports: the database, Redis, whether a worker sent a heartbeat lately, and
the object store when the archive is in one; and notes: whether Redis is used with a password,
what `make run`'s launcher restarted."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.db import connection

from backupweb import restarts
from backupweb.redis import get_redis

WORKER_KEY_PREFIX = "backupweb:worker:"
WORKER_HEARTBEAT_SECONDS = 10
# A worker is alive if it wrote its heartbeat within the last three beats.
WORKER_HEARTBEAT_TTL = 3 * WORKER_HEARTBEAT_SECONDS


def check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def check_redis() -> str:
    get_redis().ping()
    return "ok"


def check_worker() -> str:
    names = list(get_redis().scan_iter(f"{WORKER_KEY_PREFIX}*", count=100))
    if not names:
        raise RuntimeError("no Celery worker heartbeat in the last 30 seconds")
    return "ok"


def record_worker_heartbeat(hostname: str) -> None:
    get_redis().set(f"{WORKER_KEY_PREFIX}{hostname}", int(time.time()), ex=WORKER_HEARTBEAT_TTL)


def check_object_store() -> str:
    """The bucket of ARCHIVE_URL answers (checked only when the archive is in one)."""
    from archive.blobstore import get_store

    get_store().ping()
    return "ok"


CHECKS = {"database": check_database, "redis": check_redis, "worker": check_worker}


def checks() -> dict:
    if str(getattr(settings, "ARCHIVE_URL", "")).startswith("s3://"):
        return {**CHECKS, "archive": check_object_store}
    return CHECKS


def redis_note(url: str) -> str:
    parts = urlsplit(url)
    if parts.password or parse_qs(parts.query).get("password"):
        return "password required (REDIS_URL carries it)"
    return "no password in REDIS_URL: anyone who reaches this Redis can read or add tasks"


def notes() -> dict[str, str]:
    """Facts an admin should know that are not failures."""
    found = {"redis": redis_note(settings.REDIS_URL)}
    launched = restarts.summary(settings.DATA_DIR)
    if launched:
        found["launcher"] = launched
    return found


def run_checks() -> tuple[bool, dict[str, str]]:
    results: dict[str, str] = {}
    healthy = True
    for name, check in checks().items():
        try:
            results[name] = check()
        except Exception as exc:  # a health check reports every failure, whatever its kind
            healthy = False
            results[name] = f"error: {type(exc).__name__}: {exc}"
    return healthy, results
