"""Named actors for access tests (healthchecks' hc/test.py style)."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.test import Client

from accounts.models import Account
from users.models import Profile, Role

# Real Redis and broker fixtures of the jobs tests, reused here.


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
