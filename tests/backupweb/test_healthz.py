"""/healthz: JSON with database, Redis and worker state; 503 when one is down."""

from __future__ import annotations

import pytest

from backupweb import restarts
from backupweb.health import record_worker_heartbeat, redis_note


@pytest.mark.django_db
def test_all_ok_when_database_redis_and_a_worker_heartbeat_are_there(client, use_redis):
    record_worker_heartbeat("test@host")
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["checks"] == {"database": "ok", "redis": "ok", "worker": "ok"}


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


@pytest.mark.django_db
def test_it_notes_that_redis_is_used_without_a_password(client, use_redis):
    note = client.get("/healthz").json()["notes"]["redis"]
    assert note.startswith("no password in REDIS_URL")


def test_it_notes_that_redis_needs_the_password_the_url_carries():
    assert redis_note("redis://:s3cret@127.0.0.1:6379/0").startswith("password required")
    assert redis_note("redis://127.0.0.1:6379/0?password=s3cret").startswith("password required")
    assert "s3cret" not in redis_note("redis://:s3cret@127.0.0.1:6379/0")


@pytest.mark.django_db
def test_it_notes_what_the_launcher_restarted(client, use_redis, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    assert "launcher" not in client.get("/healthz").json()["notes"]
    restarts.record(tmp_path, "worker", -9)
    restarts.record(tmp_path, "worker", 1)
    note = client.get("/healthz").json()["notes"]["launcher"]
    assert note.startswith("worker restarted 2 times (last at ") and "exited with 1)" in note


@pytest.mark.django_db
def test_an_archive_in_object_storage_is_checked_and_a_missing_bucket_is_a_503(
    client, use_redis, settings, seaweedfs
):
    from tests.helpers.blobs import s3_settings

    record_worker_heartbeat("test@host")
    s3_settings(settings, seaweedfs)
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json()["checks"]["archive"] == "ok"
    settings.ARCHIVE_URL = "s3://no-such-bucket-here/x"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["archive"].startswith("error:")
    assert seaweedfs.secret_key not in response.content.decode()
