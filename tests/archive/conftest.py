"""Fixtures for the archive tests: a blob store in a temp dir, an account and its folders."""

from __future__ import annotations

import base64
import os

import pytest

from accounts.models import Account
from archive.blobstore import BlobStore
from archive.models import Folder
from tests.archive.browser_helpers import archive_raws
from tests.helpers.archive import make_account, make_folder
from tests.helpers.search import mail_raw


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


@pytest.fixture
def corpus_of_four(archive_root, folder) -> list:
    """Four messages in `folder` (two with zebra, one with an attachment, one from dave) and a
    fifth with zebra in another account's INBOX."""
    other = make_folder(make_account("bob"), "INBOX")
    rows = archive_raws(folder, [
        mail_raw("Quarterly budget", "The zebra crossing is near the office.", day=3),
        mail_raw("Holiday plans", "Let us meet at the crossing near the zebra.",
                 cc="carol@example.org", day=10),
        mail_raw("Invoice", "Please find the invoice attached.", attachment="rechnung-2024.pdf",
                 day=20),
        mail_raw("Café crème", "Grüße aus Köln, naïve façade.", frm="dave@example.org", day=25),
    ])  # fmt: skip
    archive_raws(other, [mail_raw("Quarterly budget", "zebra in another account")])
    return rows
