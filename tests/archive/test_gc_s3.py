"""Garbage collection of an archive in object storage (a real SeaweedFS): the same rules as
the local store's (tests/archive/test_gc.py), with held blobs under the bucket's prefix."""

from __future__ import annotations

import time

import pytest

from archive import gc
from archive.blobstore import get_store, sha256_of
from archive.ingest import FetchedMessage, store_messages
from archive.models import Message
from archive.s3store import S3Store
from tests.helpers.archive import make_account, make_folder
from tests.helpers.blobs import s3_settings

GRACE = 24 * 3600  # the default BLOB_GC_GRACE_HOURS


def raw(text: str) -> bytes:
    return f"From: a@example.org\r\nSubject: {text}\r\n\r\n{text} body\r\n".encode()


def archive(folder, *texts: str, first_uid: int = 1) -> list[str]:
    fetched = [
        FetchedMessage(uid=first_uid + i, raw=raw(t), flags=[], internal_date=None, size=0)
        for i, t in enumerate(texts)
    ]
    store_messages(folder, fetched)
    return [sha256_of(raw(t)) for t in texts]


@pytest.fixture
def s3_store(db, settings, seaweedfs, archive_root) -> S3Store:
    s3_settings(settings, seaweedfs)
    store = get_store()
    assert isinstance(store, S3Store)
    return store


def held(store: S3Store) -> list[str]:
    return [sha for sha, _, _ in store.held()]


def test_unreferenced_and_orphan_blobs_leave_the_bucket_after_the_grace_then_the_hold(s3_store):
    folder = make_folder(make_account("alice"))
    keep, drop = archive(folder, "keep", "drop")
    orphan, _ = s3_store.put(raw("left by a crash before the commit"))
    Message.objects.filter(blob_id=drop).delete()

    assert gc.collect_garbage(store=s3_store).kept_young == 2  # inside the grace: both stay
    assert s3_store.exists(drop) and s3_store.exists(orphan)

    later = time.time() + GRACE + 60
    report = gc.collect_garbage(now=later, store=s3_store)
    assert (report.rows_removed, report.orphans_removed) == (1, 1)
    assert not s3_store.exists(drop) and not s3_store.exists(orphan)
    assert held(s3_store) == sorted([drop, orphan])
    assert s3_store.get(keep) == raw("keep")

    report = gc.collect_garbage(now=later + gc.HOLD_SECONDS + 1, store=s3_store)
    assert report.purged == 2 and report.bytes_freed > 0 and held(s3_store) == []


def test_a_held_blob_that_an_ingest_stored_again_is_kept(s3_store):
    alice, bob = make_folder(make_account("alice")), make_folder(make_account("bob"))
    (sha,) = archive(alice, "re-added")
    Message.objects.filter(blob_id=sha).delete()
    later = time.time() + GRACE + 60
    assert gc.collect_garbage(now=later, store=s3_store).rows_removed == 1
    archive(bob, "re-added")  # writes the bytes again: they were no longer in the store
    report = gc.collect_garbage(now=later + 1, store=s3_store)
    assert report.restored == 1 and held(s3_store) == []
    assert s3_store.get(sha) == raw("re-added")


def test_the_housekeeping_collects_the_bucket_once_an_hour(s3_store):
    now = time.time()
    assert gc.collect_if_due(now=now, store=s3_store) is not None
    assert gc.collect_if_due(now=now + 60, store=s3_store) is None
    assert gc.collect_if_due(now=now + gc.INTERVAL_SECONDS + 1, store=s3_store) is not None
