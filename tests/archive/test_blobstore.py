"""The blob store: content addressing, compression, encryption, verification on every read.

Where the behaviour is the same, a test runs against both backends: a local folder and
S3-compatible object storage (a real SeaweedFS)."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import signal
import subprocess
import sys
import textwrap
import time
import tracemalloc
from pathlib import Path

import pytest

from archive import blobformat
from archive.blobstore import BlobCorrupt, BlobKeyError, BlobMissing, BlobStore, get_store
from archive.disk import Disk
from archive.s3store import S3Store
from archive.verify import remove_stale_temp_files
from tests.corpus import corpus_messages as corpus
from tests.corpus import pick
from tests.helpers.blobs import quarantined_hashes, replace_stored, stored_bytes

ROOT = Path(__file__).resolve().parents[2]
MARKER = b"Unmistakable-Plaintext-Marker-4711"


def sample_message(extra: bytes = b"") -> bytes:
    return (
        b"From: alice@example.org\r\nSubject: " + MARKER + b"\r\n\r\n" + MARKER * 3 + extra
    )  # fmt: skip


def big_message(size: int) -> bytes:
    """A message with a base64 attachment-like body (compresses only a little, like real mail)."""
    body = base64.encodebytes(os.urandom(size * 3 // 4))
    return b"Subject: big\r\n\r\n" + body[:size]


@pytest.fixture(params=["local", "s3"])
def make_store(request, tmp_path):
    """Opens this test's store, with the keys given: a folder, or a prefix of a bucket."""
    if request.param == "local":
        return lambda key=None, old_keys=(): BlobStore(tmp_path / "store", key, old_keys)
    bucket = request.getfixturevalue("s3_bucket")
    client = request.getfixturevalue("seaweedfs").client()
    prefix = f"t-{secrets.token_hex(6)}"
    return lambda key=None, old_keys=(): S3Store(bucket, prefix, key, old_keys, client=client)


@pytest.fixture
def backend_store(make_store):
    """A store without encryption, of each backend."""
    return make_store()


@pytest.fixture(params=[False, True], ids=["plain", "encrypted"])
def any_store(request, make_store, encryption_key):
    """Each backend, with and without encryption."""
    return make_store(encryption_key if request.param else None)


def test_a_blob_is_named_by_the_sha256_of_its_bytes_and_its_path_comes_from_the_hash(store):
    raw = sample_message()
    sha, stored_size = store.put(raw)
    assert sha == hashlib.sha256(raw).hexdigest()
    path = store.root / "blobs" / sha[:2] / sha
    assert path.is_file()
    assert path.stat().st_size == stored_size
    assert store.exists(sha)


def test_the_same_bytes_are_stored_once(make_store, encryption_key):
    store = make_store(encryption_key)
    raw = sample_message()
    first = store.put(raw)
    sealed = stored_bytes(store, first[0])
    assert store.put(raw) == first
    assert store.put_many([raw, raw]) == [first, first]
    assert make_store(encryption_key).put(raw) == first  # another process, or another host
    assert list(store.iter_hashes()) == [first[0]]
    assert stored_bytes(store, first[0]) == sealed  # not rewritten: a new seal has a new nonce


def test_put_many_returns_results_in_the_order_given(any_store):
    raws = [m.read() for m in pick(limit=20)]
    results = any_store.put_many(raws + raws[:3])
    assert [sha for sha, _ in results] == [hashlib.sha256(r).hexdigest() for r in raws + raws[:3]]
    for raw, (sha, _) in zip(raws, results, strict=False):
        assert any_store.get(sha) == raw


def test_blobs_are_compressed_with_a_versioned_header(backend_store):
    store = backend_store
    raw = b"Subject: hello\r\n\r\n" + b"the same line again and again\r\n" * 2000
    sha, stored_size = store.put(raw)
    data = stored_bytes(store, sha)
    assert len(data) == stored_size == store.stored_size(sha)
    assert data[:3] == b"BWB" and data[3] == blobformat.VERSION
    assert stored_size < len(raw) / 10


def test_an_empty_message_round_trips(any_store):
    sha, _ = any_store.put(b"")
    assert any_store.get(sha) == b""


def test_without_a_key_the_compressed_blob_still_shows_short_plaintext(backend_store):
    # The control for the next test: zstd keeps short literals readable, so the check can fail.
    sha, _ = backend_store.put(sample_message())
    assert MARKER in stored_bytes(backend_store, sha)


def test_with_a_key_the_blob_file_or_object_holds_no_plaintext(make_store, encryption_key):
    store = make_store(encryption_key)
    raw = sample_message()
    sha, _ = store.put(raw)
    data = stored_bytes(store, sha)
    assert MARKER not in data and MARKER[:12] not in data
    assert data[4] & blobformat.FLAG_ENCRYPTED
    assert store.get(sha) == raw


def test_an_encrypted_blob_needs_its_key(make_store, encryption_key):
    sha, _ = make_store(encryption_key).put(sample_message())
    with pytest.raises(BlobKeyError, match="ARCHIVE_ENCRYPTION_KEY is not set"):
        make_store().get(sha)
    other = base64.b64encode(os.urandom(32)).decode()
    with pytest.raises(BlobKeyError, match="different key"):
        make_store(other).get(sha)
    # A retired key still decrypts once it is listed as an old key.
    assert make_store(other, old_keys=[encryption_key]).get(sha) == sample_message()


def test_plain_blobs_stay_readable_after_a_key_is_configured(make_store, encryption_key):
    sha, _ = make_store().put(sample_message())
    assert make_store(encryption_key).get(sha) == sample_message()


def test_a_malformed_key_is_refused_without_echoing_it():
    with pytest.raises(ValueError) as err:
        BlobStore("/nonexistent", "c2hvcnQ=")  # "short"
    assert "c2hvcnQ" not in str(err.value)


def flip_byte(store, sha: str, offset: int) -> None:
    data = bytearray(stored_bytes(store, sha))
    data[offset] ^= 0x55
    replace_stored(store, sha, bytes(data))


@pytest.mark.parametrize("where", ["middle", "last", "size-field"])
def test_a_corrupted_blob_is_detected_on_read(any_store, where):
    raw = sample_message(b"\r\n".join(m.read() for m in pick(limit=5)))
    sha, stored = any_store.put(raw)
    flip_byte(any_store, sha, {"middle": stored // 2, "last": stored - 1, "size-field": 12}[where])
    with pytest.raises(BlobCorrupt):
        any_store.get(sha)
    with pytest.raises(BlobCorrupt), any_store.open_stream(sha) as stream:
        while stream.read(4096):
            pass


def test_a_blob_copied_under_another_hash_is_detected(any_store):
    sha_a, _ = any_store.put(sample_message(b"a"))
    sha_b, _ = any_store.put(sample_message(b"b"))
    replace_stored(any_store, sha_b, stored_bytes(any_store, sha_a))
    with pytest.raises(BlobCorrupt):
        any_store.get(sha_b)


def test_a_truncated_blob_is_detected(any_store):
    sha, stored = any_store.put(sample_message())
    replace_stored(any_store, sha, stored_bytes(any_store, sha)[: stored - 5])
    with pytest.raises(BlobCorrupt):
        any_store.get(sha)


def test_a_blob_in_an_unknown_format_version_is_refused(backend_store):
    store = backend_store
    sha, _ = store.put(sample_message())
    data = bytearray(stored_bytes(store, sha))
    data[3] = 99
    replace_stored(store, sha, bytes(data))
    with pytest.raises(BlobCorrupt, match="unknown format version 99"):
        store.get(sha)


def test_a_missing_blob_raises_blob_missing(backend_store):
    store = backend_store
    sha = hashlib.sha256(b"never stored").hexdigest()
    assert not store.exists(sha)
    with pytest.raises(BlobMissing):
        store.get(sha)
    with pytest.raises(BlobMissing):
        store.open_stream(sha)


@pytest.mark.parametrize("name", ["../../etc/passwd", "A" * 64, "abc", "/" + "a" * 63, ""])
def test_only_a_hash_can_become_a_path_or_an_object_key(backend_store, name):
    name_for = getattr(backend_store, "path_for", None) or backend_store.key_for
    with pytest.raises(ValueError):
        name_for(name)
    with pytest.raises(ValueError):
        backend_store.get(name)


@pytest.mark.parametrize("size", ["small", "large"])
def test_a_blob_that_reads_back_wrong_after_writing_is_quarantined(store, monkeypatch, size):
    # Small messages are encoded in memory (encode_bytes), large ones streamed (encode_to).
    raw = sample_message() if size == "small" else big_message(blobformat.ONE_SHOT_LIMIT + 1)
    real_bytes, real_stream = blobformat.encode_bytes, blobformat.encode_to

    def damaging_bytes(raw, sha256, key):
        return real_bytes(bytes(raw) + b"x", sha256, key)  # wrong bytes under the name

    def damaging_stream(raw, sha256, key, out):
        return real_stream(bytes(raw) + b"x", sha256, key, out)

    monkeypatch.setattr("archive.blobstore.encode_bytes", damaging_bytes)
    monkeypatch.setattr("archive.blobstore.encode_to", damaging_stream)
    with pytest.raises(BlobCorrupt):
        store.put(raw)
    sha = hashlib.sha256(raw).hexdigest()
    assert not store.exists(sha)
    assert [p.name.split(".")[0] for p in store.quarantine_dir.iterdir()] == [sha]


def test_the_callers_work_runs_while_new_files_are_flushed_and_a_failed_flush_stores_nothing(
    store,
):
    seen_meanwhile = []

    def parse_meanwhile():
        seen_meanwhile.append(sorted(p.name[:5] for p in store.blob_dir.rglob("*") if p.is_file()))

    store.put_many([sample_message(b"%d" % i) for i in range(3)], meanwhile=parse_meanwhile)
    assert seen_meanwhile == [[".tmp-"] * 3]  # called once, before any blob had its name

    class DiskThatCannotFlush(Disk):
        def sync_files(self, paths, filesystem):
            raise OSError(5, "Input/output error")

    failing = BlobStore(store.root, disk=DiskThatCannotFlush())
    raw = sample_message(b"not flushed")
    with pytest.raises(OSError, match="Input/output"):
        failing.put_many([raw], meanwhile=parse_meanwhile)
    assert not store.exists(hashlib.sha256(raw).hexdigest())
    assert not [p for p in store.blob_dir.rglob(".tmp-*")]


def test_a_50_mb_message_streams_without_copies_of_itself(any_store):
    raw = big_message(50 << 20)
    tracemalloc.start()
    try:
        sha, _ = any_store.put(raw)
        _, put_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        digest = hashlib.sha256()
        with any_store.open_stream(sha) as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
        _, stream_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert digest.hexdigest() == sha
    assert put_peak < 16 << 20, f"put held {put_peak / 2**20:.0f} MiB"
    assert stream_peak < 16 << 20, f"reading held {stream_peak / 2**20:.0f} MiB"
    assert any_store.get(sha) == raw


def test_get_store_follows_the_settings(settings, tmp_path, encryption_key):
    settings.ARCHIVE_ROOT = tmp_path / "a"
    settings.ARCHIVE_ENCRYPTION_KEY = ""
    plain = get_store()
    assert plain.root == tmp_path / "a" and plain.key is None
    assert get_store() is plain
    settings.ARCHIVE_ENCRYPTION_KEY = encryption_key
    assert get_store().key == base64.b64decode(encryption_key)


CHILD = textwrap.dedent(
    """
    import random, sys, time
    from archive import blobstore

    real_encode = blobstore.encode_to

    class Slow:
        def __init__(self, out):
            self.out = out
        def write(self, data):
            self.out.write(data)
            self.out.flush()
            print("writing", flush=True)
            time.sleep(0.2)
            return len(data)

    blobstore.encode_to = lambda raw, sha, key, out: real_encode(raw, sha, key, Slow(out))
    raw = random.Random(7).randbytes(8 << 20)
    blobstore.BlobStore(sys.argv[1], sys.argv[2] or None).put(raw)
    print("done", flush=True)
    """
)


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_killing_a_writer_mid_blob_leaves_no_partial_blob_under_its_name(
    tmp_path, encryption_key, encrypted
):
    import random

    key = encryption_key if encrypted else ""
    root = tmp_path / "store"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(root), key],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert child.stdout.readline().strip() == "writing"
        time.sleep(0.1)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    raw = random.Random(7).randbytes(8 << 20)
    sha = hashlib.sha256(raw).hexdigest()
    store = BlobStore(root, key or None)
    assert not store.exists(sha)
    assert list(store.iter_hashes()) == []
    temps = [p for p in store.path_for(sha).parent.iterdir()]
    assert temps and all(p.name.startswith(".tmp-") for p in temps)
    # The next writer completes normally, and the leftover is cleaned up later.
    assert store.put(raw)[0] == sha and store.get(sha) == raw
    assert remove_stale_temp_files(store, older_than=0) == len(temps)
    assert [p.name for p in store.path_for(sha).parent.iterdir()] == [sha]


def test_storing_the_same_bytes_again_repairs_a_damaged_blob(any_store):
    raw = sample_message(b"repair me")
    sha, stored = any_store.put(raw)
    flip_byte(any_store, sha, stored // 2)
    assert any_store.put(raw)[0] == sha
    assert any_store.get(sha) == raw
    assert quarantined_hashes(any_store) == [sha]  # kept aside, never deleted


def test_every_corpus_message_round_trips_through_an_encrypted_store(make_store, encryption_key):
    store = make_store(encryption_key)
    messages = [m.read() for m in corpus()]
    results = []
    for start in range(0, len(messages), 200):
        results += store.put_many(messages[start : start + 200])
    for raw, (sha, _) in zip(messages, results, strict=True):
        assert store.get(sha) == raw


def test_a_large_file_is_stored_from_disk_without_reading_it_into_memory(any_store, tmp_path):
    source = tmp_path / "import.eml"
    source.write_bytes(big_message(30 << 20))
    tracemalloc.start()
    try:
        with open(source, "rb") as f:
            sha, _ = any_store.put_file(f)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"put_file held {peak / 2**20:.0f} MiB"
    assert sha == hashlib.sha256(source.read_bytes()).hexdigest()
    assert any_store.get(sha) == source.read_bytes()
    with open(source, "rb") as f:
        assert any_store.put_file(f)[0] == sha  # already stored: nothing rewritten
