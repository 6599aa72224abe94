"""Fixtures for the archive tests: a blob store in a temp dir, an account and its folders."""

from __future__ import annotations

import base64
import os

import pytest

from accounts.models import Account
from archive.blobstore import BlobStore
from archive.models import Folder
from tests.helpers.archive import make_account, make_folder


@pytest.fixture
def archive_root(tmp_path, settings):
    """ARCHIVE_ROOT in a fresh temp dir, without encryption unless a test sets a key."""
    root = tmp_path / "archive"
    settings.ARCHIVE_ROOT = root
    settings.ARCHIVE_ENCRYPTION_KEY = ""
    return root


@pytest.fixture
def store(archive_root) -> BlobStore:
    return BlobStore(archive_root)


@pytest.fixture
def encryption_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


@pytest.fixture
def account(db) -> Account:
    return make_account()


@pytest.fixture
def folder(account) -> Folder:
    return make_folder(account)
