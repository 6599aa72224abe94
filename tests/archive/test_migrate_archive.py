"""`manage.py migrate_archive --to s3://...`: the local archive copied into a real SeaweedFS,
verified, resumable, then used through ARCHIVE_URL."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from archive.blobstore import BlobStore, get_store, sha256_of
from archive.ingest import FetchedMessage, store_messages
from archive.s3store import S3Store
from tests.helpers.blobs import replace_stored, s3_settings


def raw(n: int) -> bytes:
    return b"From: a@example.org\r\nSubject: migrate %d\r\n\r\nbody %d\r\n" % (n, n)


def archive(folder, count: int) -> list[bytes]:
    raws = [raw(n) for n in range(count)]
    fetched = [
        FetchedMessage(uid=n + 1, raw=r, flags=[], internal_date=None, size=0)
        for n, r in enumerate(raws)
    ]
    store_messages(folder, fetched)
    return raws


@pytest.fixture
def target(settings, seaweedfs, archive_root, encryption_key):
    """The URL to migrate to; the S3 settings are in place, ARCHIVE_URL still local."""
    settings.ARCHIVE_ENCRYPTION_KEY = encryption_key
    url = s3_settings(settings, seaweedfs)
    settings.ARCHIVE_URL = ""
    return url


def run(url: str) -> str:
    out = io.StringIO()
    call_command("migrate_archive", "--to", url, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_a_local_archive_is_copied_and_then_read_from_the_bucket(folder, target, settings):
    raws = archive(folder, 70)  # more than one batch
    assert "70 blobs copied" in run(target)
    settings.ARCHIVE_URL = target
    store = get_store()
    assert isinstance(store, S3Store)
    assert [store.get(sha256_of(r)) for r in raws] == raws


def test_a_second_run_copies_only_what_is_missing(folder, target, settings):
    raws = archive(folder, 5)
    run(target)
    settings.ARCHIVE_URL = target
    bucket = get_store()
    gone = sha256_of(raws[2])
    bucket.client.delete_object(Bucket=bucket.bucket, Key=bucket.key_for(gone))
    settings.ARCHIVE_URL = ""
    second = run(target)
    assert "1 blobs copied" in second and "4 already in the bucket" in second
    assert bucket.get(gone) == raws[2]


def test_a_damaged_local_blob_is_not_copied_and_the_command_fails(folder, target, settings):
    raws = archive(folder, 3)
    local = BlobStore(settings.ARCHIVE_ROOT, settings.ARCHIVE_ENCRYPTION_KEY)
    replace_stored(local, sha256_of(raws[1]), b"BWB\x01 damaged")
    with pytest.raises(CommandError, match="not completely copied"):
        run(target)
