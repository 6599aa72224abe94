"""Fixtures for the archive tests: a blob store in a temp dir, an account and its folders."""

from __future__ import annotations

import base64
import os

import pytest

from accounts.models import Account
from archive.blobstore import BlobStore
from archive.models import Folder


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


def make_account(name: str = "alice") -> Account:
    account = Account(name=name, host="imap.example.org", username=f"{name}@example.org")
    account.save()
    return account


def make_folder(account: Account, name: str = "INBOX", uidvalidity: int | None = 1) -> Folder:
    return Folder.objects.create(
        account=account, name=name, raw_name=name, delimiter="/", uidvalidity=uidvalidity
    )


@pytest.fixture
def account(db) -> Account:
    return make_account()


@pytest.fixture
def folder(account) -> Folder:
    return make_folder(account)
