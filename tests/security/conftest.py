"""Named actors for access tests (healthchecks' hc/test.py style).

alice is an administrator, oscar an operator, vera a viewer granted the "granted" account,
victor a viewer with no grants. `other` is an account nobody granted to vera.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from accounts.models import Account
from users.models import Profile, Role

PASSWORD = "Correct-Horse-Battery-7"


@dataclass
class Cast:
    alice: object
    oscar: object
    vera: object
    victor: object
    granted: Account
    other: Account

    def client(self, user=None) -> Client:
        client = Client()
        if user is not None:
            client.force_login(user)
        return client


def make_user(username: str, role: str, accounts=()):
    User = get_user_model()
    user = User.objects.create_user(username, f"{username}@example.org", PASSWORD)
    if role == Role.ADMINISTRATOR:
        user.is_superuser = user.is_staff = True
        user.save()
    profile = Profile.objects.create(user=user, role=role)
    profile.accounts.set(accounts)
    return user


def make_account(name: str, **fields) -> Account:
    account = Account(name=name, host="127.0.0.1", port=1, security="none", username=name)
    for key, value in fields.items():
        setattr(account, key, value)
    account.set_secret(f"secret-of-{name}")
    account.save()
    return account


@pytest.fixture
def cast(db) -> Cast:
    granted = make_account("granted")
    other = make_account("other")
    return Cast(
        alice=make_user("alice", Role.ADMINISTRATOR),
        oscar=make_user("oscar", Role.OPERATOR),
        vera=make_user("vera", Role.VIEWER, [granted]),
        victor=make_user("victor", Role.VIEWER),
        granted=granted,
        other=other,
    )


@pytest.fixture
def archive_root(settings, tmp_path):
    """A fresh, empty blob store for the test."""
    root = tmp_path / "archive"
    root.mkdir()
    settings.ARCHIVE_ROOT = root
    return root


# Real Redis and broker fixtures of the jobs tests, reused here.
from tests.jobs.conftest import celery_broker  # noqa: E402,F401
