"""Named actors for access tests (healthchecks' hc/test.py style).

alice is an administrator, oscar an operator, vera a viewer granted the "granted" account,
victor a viewer with no grants. `other` is an account nobody granted to vera."""

from __future__ import annotations

import pytest

# Real Redis and broker fixtures of the jobs tests, reused here.
from tests.helpers.security import Cast, make_account, make_user
from users.models import Role


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
