"""Fixtures for real servers: one Dovecot and one Redis per test session, users per test."""

from __future__ import annotations

import os

import pytest

from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.redis import RedisServer

# Celery workers and beat on the session's Redis, and a webhook sink, for every test folder.
pytest_plugins = ["tests.helpers.jobs_fixtures", "tests.helpers.sinks"]


@pytest.fixture(scope="session")
def dovecot():
    server = Dovecot.start()
    yield server
    server.stop()


@pytest.fixture
def mail_user(dovecot: Dovecot) -> MailUser:
    """A fresh, empty mailbox on the session's Dovecot."""
    return dovecot.add_user()


@pytest.fixture(scope="session")
def redis_server():
    server = RedisServer.start()
    previous = os.environ.get("REDIS_URL")
    os.environ["REDIS_URL"] = server.url
    yield server
    server.stop()
    if previous is None:
        os.environ.pop("REDIS_URL", None)
    else:
        os.environ["REDIS_URL"] = previous


@pytest.fixture
def use_redis(redis_server, settings):
    """Point the app (settings and its cached client) at the test Redis."""
    from backupweb.redis import get_redis

    settings.REDIS_URL = redis_server.url
    settings.CELERY_BROKER_URL = redis_server.url
    get_redis.cache_clear()
    yield redis_server
    get_redis.cache_clear()


@pytest.fixture(scope="session")
def seaweedfs():
    """A real S3-compatible server (SeaweedFS) for the tests of the object-storage archive."""
    from tests.servers.seaweedfs import SeaweedFS

    server = SeaweedFS.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_bucket(seaweedfs) -> str:
    """One bucket for the session; each test's store takes a prefix of its own."""
    return seaweedfs.new_bucket()


@pytest.fixture(scope="session")
def oauth_provider():
    """A local OAuth2 provider (tests/servers/oauth.py) for the OAuth2 issue's tests."""
    from tests.servers.oauth import OAuthProvider

    provider = OAuthProvider.start()
    yield provider
    provider.stop()


@pytest.fixture(scope="session")
def oauth_dovecot(oauth_provider):
    """A Dovecot that also accepts bearer tokens, checked against `oauth_provider`."""
    server = Dovecot.start(oauth2_introspection_url=oauth_provider.endpoint("introspect"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def dotted_dovecot():
    """A second Dovecot laid out like Courier and many hosted servers: `.` as the hierarchy
    delimiter under the personal namespace `INBOX.` (sync tests copy between the two)."""
    server = Dovecot.start(separator=".", prefix="INBOX.")
    yield server
    server.stop()
