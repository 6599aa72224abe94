"""The object-storage backend's own behaviour, against a real SeaweedFS: keys, uploads checked
before the row may commit, faults of the store (injected by wrapping the real client)."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import signal
import threading
import time

import pytest
from botocore.exceptions import ClientError

from archive import blobformat
from archive.blobstore import BlobCorrupt, get_store
from archive.s3store import PART_SIZE, S3Store, parse_s3_url
from tests.helpers.blobs import every_stored_object, quarantined_hashes, s3_settings


def message(n: int = 0, size: int = 0) -> bytes:
    body = base64.encodebytes(os.urandom(size * 3 // 4))[:size] if size else b"hello"
    return b"Subject: test %d\r\n\r\n" % n + body


class WrappedClient:
    """The real client, with one call replaced by a test (a fault, or a probe)."""

    def __init__(self, real, **replaced):
        self._real = real
        self._replaced = replaced

    def __getattr__(self, name):
        if name in self._replaced:
            return lambda **kw: self._replaced[name](self._real, **kw)
        return getattr(self._real, name)


@pytest.fixture
def make(seaweedfs, s3_bucket):
    def build(client=None, key=None) -> S3Store:
        prefix = f"t-{secrets.token_hex(6)}"
        return S3Store(s3_bucket, prefix, key, client=client or seaweedfs.client())

    return build


def test_an_objects_key_comes_from_the_hash_of_its_bytes_only(make, seaweedfs, s3_bucket):
    store = make()
    sha, size = store.put(message())
    assert sha == hashlib.sha256(message()).hexdigest()
    keys = [k for k in every_stored_object(seaweedfs, s3_bucket) if k.startswith(store.prefix)]
    assert keys == [f"{store.prefix}blobs/{sha[:2]}/{sha}"]
    assert store.stored_size(sha) == size


def test_a_small_blob_that_does_not_decode_to_its_hash_is_never_uploaded(make, monkeypatch):
    store = make()
    real = blobformat.encode_bytes
    monkeypatch.setattr(
        "archive.s3store.encode_bytes", lambda raw, sha, key: real(bytes(raw) + b"x", sha, key)
    )
    with pytest.raises(BlobCorrupt):
        store.put(message())
    assert list(store.iter_hashes()) == []


def test_a_large_blob_that_reads_back_wrong_after_its_upload_is_quarantined(make, monkeypatch):
    store = make()
    real = blobformat.encode_to
    monkeypatch.setattr(
        "archive.s3store.encode_to",
        lambda raw, sha, key, out: real(bytes(raw) + b"x", sha, key, out),
    )
    raw = message(size=PART_SIZE + 1000)
    with pytest.raises(BlobCorrupt):
        store.put(raw)
    sha = hashlib.sha256(raw).hexdigest()
    assert not store.exists(sha) and quarantined_hashes(store) == [sha]


def test_a_store_that_keeps_other_bytes_than_it_was_sent_fails_the_write(make, seaweedfs):
    # Its ETag is not the MD5 of what was sent, so the object is read back: it does not decode.
    def put_then_damage(real, **kw):
        real.put_object(**kw)
        real.put_object(Bucket=kw["Bucket"], Key=kw["Key"], Body=b"BWB\x01damaged")
        return {"ETag": '"not-an-md5"'}

    store = make(WrappedClient(seaweedfs.client(), put_object=put_then_damage))
    with pytest.raises(BlobCorrupt):
        store.put(message())
    sha = hashlib.sha256(message()).hexdigest()
    assert not store.exists(sha) and quarantined_hashes(store) == [sha]


def test_a_failed_upload_in_a_batch_fails_the_whole_batch(make, seaweedfs):
    raws = [message(n) for n in range(6)]
    doomed = hashlib.sha256(raws[3]).hexdigest()

    def put_or_fail(real, **kw):
        if kw["Key"].endswith(doomed):
            raise ClientError({"Error": {"Code": "InternalError"}}, "PutObject")
        return real.put_object(**kw)

    store = make(WrappedClient(seaweedfs.client(), put_object=put_or_fail))
    with pytest.raises(ClientError):
        store.put_many(raws)  # the caller commits no row for this batch
    assert not store.exists(doomed)


def test_a_store_without_conditional_puts_gets_head_then_put(make, seaweedfs):
    puts = []

    def refuse_conditions(real, **kw):
        puts.append(kw["Key"])
        if "IfNoneMatch" in kw:
            raise ClientError({"Error": {"Code": "NotImplemented"}}, "PutObject")
        return real.put_object(**kw)

    store = make(WrappedClient(seaweedfs.client(), put_object=refuse_conditions))
    sha, _ = store.put(message())
    assert store.conditional_puts is False and store.get(sha) == message()
    before = len(puts)
    assert store.put(message())[0] == sha and len(puts) == before  # stored once


def test_a_batch_is_uploaded_in_parallel_while_the_caller_works(make, seaweedfs):
    in_flight, peak, lock = [0], [0], threading.Lock()
    meanwhile_saw = []

    def slow_put(real, **kw):
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.2)
        try:
            return real.put_object(**kw)
        finally:
            with lock:
                in_flight[0] -= 1

    store = make(WrappedClient(seaweedfs.client(), put_object=slow_put))
    raws = [message(n) for n in range(8)]
    started = time.monotonic()

    def parse_meanwhile():
        time.sleep(0.05)  # the pool's threads have started by then
        meanwhile_saw.append(in_flight[0])

    results = store.put_many(raws, meanwhile=parse_meanwhile)
    assert peak[0] >= 4 and time.monotonic() - started < 8 * 0.2
    assert meanwhile_saw and meanwhile_saw[0] > 0  # the caller's work ran during the uploads
    assert [store.get(sha) for sha, _ in results] == raws


def test_get_store_opens_the_bucket_and_prefix_of_archive_url(settings, seaweedfs):
    url = s3_settings(settings, seaweedfs)
    settings.ARCHIVE_ENCRYPTION_KEY = ""
    store = get_store()
    bucket, prefix = parse_s3_url(url)
    assert isinstance(store, S3Store) and (store.bucket, store.prefix) == (bucket, prefix)
    assert get_store() is store
    sha, _ = store.put(message())
    assert get_store().get(sha) == message()


@pytest.mark.parametrize("url", ["s3://ab/x", "http://bucket/x", "s3://"])
def test_an_archive_url_without_a_usable_bucket_is_refused(url):
    with pytest.raises(ValueError):
        parse_s3_url(url)


def test_a_forked_worker_gets_its_own_connections_and_never_hangs(settings, seaweedfs):
    # Pooled connections shared by two processes would mix their requests on one socket, and
    # obstore's runtime, started here by the first put, hangs a forked child's requests.
    s3_settings(settings, seaweedfs)
    parent = get_store()
    assert parent.putter is not None
    parent.put(message(6))
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report which client its store uses, and that it works
        try:
            signal.alarm(20)  # a hang fails the test instead of stopping it
            store = get_store()
            sha, _ = store.put(message(7))
            ok = store.get(sha) == message(7)
            os.write(write, f"{id(store.client)} {ok}".encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    client_id, ok = (os.read(read, 100).decode() or "0 False").split()
    os.close(read)
    assert ok == "True" and int(client_id) != id(parent.client)
    assert parent.get(hashlib.sha256(message(7)).hexdigest()) == message(7)


def test_new_blobs_go_up_through_obstore_and_stored_ones_are_verified(settings, seaweedfs):
    s3_settings(settings, seaweedfs)
    store = get_store()
    boto_puts = []

    def counted_put(real, **kw):
        boto_puts.append(kw["Key"])
        return real.put_object(**kw)

    store.client = WrappedClient(store.client, put_object=counted_put)
    first = store.put(message(8))
    assert boto_puts == [] and store.get(first[0]) == message(8)
    assert store.put(message(8)) == first and boto_puts == []  # found stored, verified
    replace_stored = store.client._real.put_object
    replace_stored(Bucket=store.bucket, Key=store.key_for(first[0]), Body=b"BWB\x01 damaged")
    assert store.put(message(8)) == first  # the damaged copy is set aside and written again
    assert quarantined_hashes(store) == [first[0]] and store.get(first[0]) == message(8)


@pytest.mark.django_db(transaction=True)
def test_the_ingest_asks_the_bucket_only_about_blobs_it_found_already_stored(make, seaweedfs):
    # Each question is a request: new blobs are protected by the collector's grace instead.
    from archive.ingest import FetchedMessage, store_messages
    from tests.helpers.archive import make_account, make_folder

    heads = []

    def counted_head(real, **kw):
        heads.append(kw["Key"])
        return real.head_object(**kw)

    store = make(WrappedClient(seaweedfs.client(), head_object=counted_head))
    raws = [message(n) for n in range(5)]
    batch = [
        FetchedMessage(uid=n + 1, raw=r, flags=[], internal_date=None, size=len(r))
        for n, r in enumerate(raws)
    ]
    store_messages(make_folder(make_account("alice")), batch, store=store)
    assert heads == []
    store_messages(make_folder(make_account("bob")), batch, store=store)  # found stored
    assert sorted(heads) == sorted(store.key_for(hashlib.sha256(r).hexdigest()) for r in raws)
