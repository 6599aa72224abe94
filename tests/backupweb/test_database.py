"""The database-specific basics, run on SQLite and again on a real PostgreSQL (make test)."""

from __future__ import annotations

import os

import pytest
from django.db import connection

from accounts.models import Account

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def test_the_configured_database_is_the_one_in_use():
    expected = (
        "postgresql" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite"
    )
    assert connection.vendor == expected


def test_an_account_round_trips_with_its_encrypted_secret():
    account = Account(name="Ünïcode & Co", host="imap.example.org", username="u@example.org")
    account.set_secret("pässwörd-123")
    account.save()
    loaded = Account.objects.get(name="Ünïcode & Co")
    assert loaded.get_secret() == "pässwörd-123"
    assert "pässwörd" not in loaded.secret_encrypted
