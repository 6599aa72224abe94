"""Engine test helpers: accounts pointing at the test Dovecot, and reading the archive back."""

from __future__ import annotations

import pytest

from jobs.engine import reconnect


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch):
    """Reconnect quickly in tests; the backoff schedule itself is not under test here."""
    monkeypatch.setattr(reconnect, "BACKOFF_BASE", 0.05)
