"""Deleting an account with its archive queues the blob collection; a real worker runs it."""

from __future__ import annotations

import datetime as dt
import os
import time

import pytest

from accounts.models import Account
from accounts.services import delete_account
from archive.blobstore import get_store, sha256_of
from archive.ingest import FetchedMessage, store_messages
from archive.models import Blob, Folder
from tests.helpers.jobs import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def folder_of(name: str) -> Folder:
    account = Account.objects.create(name=name, host="imap.example.org", username=name)
    return Folder.objects.create(account=account, name="INBOX", raw_name="INBOX", uidvalidity=1)


def archive(folder: Folder, *texts: str) -> list[str]:
    raws = [f"Subject: {t}\r\n\r\n{t} {time.time()}\r\n".encode() for t in texts]
    fetched = [
        FetchedMessage(uid=i + 1, raw=r, flags=[], internal_date=None, size=0)
        for i, r in enumerate(raws)
    ]
    store_messages(folder, fetched)
    return [sha256_of(r) for r in raws]


def test_deleting_an_account_with_its_archive_frees_its_blobs_on_a_worker(start_worker):
    # The worker uses the app's own ARCHIVE_ROOT (under the shared test DATA_DIR): so does this.
    store = get_store()
    alice, bob = folder_of("alice"), folder_of("bob")
    alone = archive(alice, "alice only")[0]
    old = time.time() - 25 * 3600  # older than the default 24 h grace period
    Blob.objects.filter(sha256=alone).update(created_at=dt.datetime.fromtimestamp(old, dt.UTC))
    os.utime(store.path_for(alone), (old, old))
    kept = archive(bob, "bob's")[0]
    start_worker()

    delete_account(alice.account, True, "admin")  # queues jobs.gc_blobs after the commit
    wait_for(lambda: not Blob.objects.filter(sha256=alone).exists(), what="the collection")
    assert not store.exists(alone)
    assert Blob.objects.filter(sha256=kept).exists() and store.exists(kept)
