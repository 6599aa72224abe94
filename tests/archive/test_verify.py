"""Verification primitives: bad blobs, rows without bytes, bytes without rows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from archive.blobstore import get_store
from archive.ingest import FetchedMessage, store_messages
from archive.models import Blob
from archive.verify import (
    blobs_without_rows,
    rows_without_blobs,
    unreferenced_blob_rows,
    verify_blob,
    verify_blobs,
)
from tests.helpers.blobs import delete_stored, replace_stored, s3_settings, stored_bytes

# Also run against a real PostgreSQL by `make test` (pytest -m postgres).
pytestmark = pytest.mark.postgres


def fetched(uid: int, raw: bytes) -> FetchedMessage:
    when = datetime(2024, 1, 1, tzinfo=UTC)
    return FetchedMessage(uid=uid, raw=raw, flags=[], internal_date=when, size=len(raw))


def test_a_good_archive_has_nothing_to_report(archive_root, folder):
    store_messages(folder, [fetched(u, b"Subject: %d\r\n\r\nbody" % u) for u in range(1, 6)])
    assert list(verify_blobs()) == []
    assert list(rows_without_blobs()) == []
    assert list(blobs_without_rows()) == []
    assert list(unreferenced_blob_rows()) == []


@pytest.fixture(params=["local", "s3"])
def backend(request, archive_root, settings) -> str:
    """The configured archive: a local folder, or a bucket on a real SeaweedFS."""
    if request.param == "s3":
        s3_settings(settings, request.getfixturevalue("seaweedfs"))
    return request.param


def test_damaged_missing_and_orphaned_blobs_are_each_reported(backend, folder):
    rows = store_messages(folder, [fetched(u, b"Subject: %d\r\n\r\nbody" % u) for u in (1, 2, 3)])
    store = get_store()
    damaged, missing = rows[0].blob_id, rows[1].blob_id
    data = bytearray(stored_bytes(store, damaged))
    data[-1] ^= 1
    replace_stored(store, damaged, bytes(data))
    delete_stored(store, missing)
    orphan, _ = store.put(b"Subject: orphan\r\n\r\nwritten, then the commit never happened")
    Blob.objects.create(sha256="f" * 64, size=1, stored_size=1)

    problems = {p.sha256: p.error for p in verify_blobs()}
    assert set(problems) == {damaged, missing, "f" * 64}
    assert "failed" in problems[damaged] or "another hash" in problems[damaged]
    assert "missing" in problems[missing]
    assert verify_blob(rows[2].blob_id) is None
    assert set(rows_without_blobs()) == {missing, "f" * 64}
    assert list(blobs_without_rows()) == [orphan]
    assert list(unreferenced_blob_rows()) == ["f" * 64]


def test_a_temp_file_renamed_while_stale_ones_are_listed_is_skipped(archive_root, monkeypatch):
    import os

    from archive import verify

    store = get_store()
    store.put(b"Subject: x\r\n\r\nx\r\n")
    real_walk = os.walk

    def walk_listing_a_file_that_is_gone(top):
        for dirpath, dirs, files in real_walk(top):
            yield dirpath, dirs, [*files, ".tmp-renamed-meanwhile"]

    monkeypatch.setattr(os, "walk", walk_listing_a_file_that_is_gone)
    assert verify.remove_stale_temp_files(store, older_than=0) == 0
