"""/healthz: JSON with database, Redis and worker state; 503 when one is down."""

from __future__ import annotations

import pytest

from backupweb.health import record_worker_heartbeat


@pytest.mark.django_db
def test_all_ok_when_database_redis_and_a_worker_heartbeat_are_there(client, use_redis):
    record_worker_heartbeat("test@host")
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "redis": "ok", "worker": "ok"},
    }


@pytest.mark.django_db
def test_no_worker_heartbeat_is_a_503_naming_the_worker(client, use_redis):
    use_redis_client = __import__("backupweb.redis", fromlist=["get_redis"]).get_redis()
    use_redis_client.flushdb()
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["worker"].startswith("error:")
    assert response.json()["checks"]["redis"] == "ok"


@pytest.mark.django_db
def test_redis_down_is_a_503(client, settings):
    from backupweb.redis import get_redis

    settings.REDIS_URL = "redis://127.0.0.1:9/0"  # nothing listens on the discard port
    get_redis.cache_clear()
    try:
        response = client.get("/healthz")
    finally:
        get_redis.cache_clear()
    assert response.status_code == 503
    assert response.json()["checks"]["redis"].startswith("error:")
    assert response.json()["checks"]["database"] == "ok"
