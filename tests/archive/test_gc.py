"""Blob garbage collection (archive/gc.py): a real blob store in a temp dir, the real database,
messages stored through the real ingest."""

from __future__ import annotations

import datetime as dt
import io
import os
import threading
import time
from collections.abc import Callable

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from accounts.services import delete_account
from archive import gc
from archive.blobstore import BlobMissing, BlobStore, sha256_of
from archive.ingest import FetchedMessage, store_messages
from archive.models import Blob, Message
from audit.models import AuditEvent
from jobs import reaper
from tests.helpers.archive import make_account, make_folder

HOUR = 3600
GRACE = 24 * HOUR  # the default BLOB_GC_GRACE_HOURS


def raw(text: str) -> bytes:
    return f"From: a@example.org\r\nSubject: {text}\r\n\r\n{text} body\r\n".encode()


def archive(folder, *texts: str) -> list[str]:
    """Store messages through the real ingest; their blob hashes."""
    fetched = [
        FetchedMessage(uid=i + 1, raw=raw(t), flags=[], internal_date=None, size=0)
        for i, t in enumerate(texts)
    ]
    store_messages(folder, fetched)
    return [sha256_of(raw(t)) for t in texts]


def age(store, hashes, seconds: float) -> None:
    """Make blob rows and files look `seconds` old."""
    then = time.time() - seconds
    when = dt.datetime.fromtimestamp(then, dt.UTC)
    Blob.objects.filter(sha256__in=hashes).update(created_at=when)
    for sha in hashes:
        if store.path_for(sha).exists():
            os.utime(store.path_for(sha), (then, then))


def held(store) -> list[str]:
    """What the collector has set aside (removed from the store, not yet deleted)."""
    folder = store.root / gc.HELD_DIR
    if not folder.exists():
        return []
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def in_store(store, sha: str) -> bool:
    return store.exists(sha)


class StoreWithARace(BlobStore):
    """The collector's store (the same files) where `race(sha)` runs once as the collector
    reaches `step`: "verify" (judging a candidate, after it was listed) or "move_out" (setting
    its file aside, inside the transaction that deletes its row)."""

    def __init__(self, store: BlobStore, step: str, race: Callable[[str], object]):
        super().__init__(store.root)
        self.step, self.race = step, race

    def race_at(self, step: str, sha: str) -> None:
        if step == self.step and self.race is not None:
            race, self.race = self.race, None
            race(sha)

    def verify(self, sha256: str) -> None:
        self.race_at("verify", sha256)
        super().verify(sha256)

    def move_out(self, sha256: str, dest) -> int | None:
        self.race_at("move_out", sha256)
        return super().move_out(sha256, dest)


@pytest.fixture
def alice(db, archive_root):
    return make_folder(make_account("alice"))


@pytest.fixture
def bob(db, archive_root):
    return make_folder(make_account("bob"))


@pytest.mark.postgres
def test_blobs_of_a_deleted_archive_are_removed_after_the_grace_period_and_not_before(alice, store):
    hashes = archive(alice, "one", "two", "three")
    sizes = sum(store.stored_size(sha) for sha in hashes)
    delete_account(alice.account, True, "admin")
    assert Message.objects.count() == 0 and Blob.objects.count() == 3

    age(store, hashes, GRACE - HOUR)  # inside the grace period: a backup may still commit
    report = gc.collect_garbage()
    assert report.rows_removed == 0 and report.kept_young == 3
    assert all(in_store(store, sha) for sha in hashes) and Blob.objects.count() == 3

    age(store, hashes, GRACE + HOUR)
    report = gc.collect_garbage()
    assert (report.rows_removed, report.bytes_removed) == (3, sizes)
    assert Blob.objects.count() == 0
    assert not any(in_store(store, sha) for sha in hashes)
    assert held(store) == sorted(hashes)  # set aside first, deleted after the hold

    # The space comes back once the hold has passed, not before.
    assert gc.collect_garbage(now=time.time() + gc.HOLD_SECONDS / 2).purged == 0
    report = gc.collect_garbage(now=time.time() + gc.HOLD_SECONDS + 60)
    assert (report.purged, report.bytes_freed) == (3, sizes)
    assert held(store) == []


@pytest.mark.postgres
def test_a_blob_shared_with_another_accounts_message_stays(alice, bob, store):
    shared, alone = archive(alice, "newsletter", "private")
    (bobs,) = archive(bob, "newsletter")
    assert bobs == shared
    delete_account(alice.account, True, "admin")
    age(store, [shared, alone], GRACE + HOUR)

    report = gc.collect_garbage()
    assert report.rows_removed == 1
    assert list(Blob.objects.values_list("sha256", flat=True)) == [shared]
    assert store.get(shared) == raw("newsletter")  # bob's message still reads back
    with pytest.raises(BlobMissing):
        store.get(alone)


def test_a_blob_written_but_not_yet_referenced_stays(alice, store):
    # A backup wrote these bytes and has not committed its rows yet (or just committed the
    # Blob row, not the message): both are young, so both stay.
    orphan, _ = store.put(raw("in flight"))
    row_only, size = store.put(raw("row, no message yet"))
    Blob.objects.create(sha256=row_only, size=size, stored_size=size)

    report = gc.collect_garbage()
    assert report.kept_young == 2 and report.rows_removed == report.orphans_removed == 0
    assert in_store(store, orphan) and in_store(store, row_only)
    assert Blob.objects.filter(sha256=row_only).exists()


def test_an_old_row_with_a_freshly_rewritten_file_stays_until_the_file_is_old_too(alice, store):
    (sha,) = archive(alice, "old row")
    Message.objects.all().delete()
    age(store, [sha], GRACE + HOUR)
    os.utime(store.path_for(sha))  # the file was written again a moment ago
    assert gc.collect_garbage().rows_removed == 0
    assert in_store(store, sha)


def test_an_old_blob_file_without_a_row_is_removed(alice, store):
    orphan, _ = store.put(raw("left by a crash before the commit"))
    age(store, [orphan], GRACE + HOUR)
    report = gc.collect_garbage()
    assert report.orphans_removed == 1 and report.bytes_removed > 0
    assert not in_store(store, orphan) and held(store) == [orphan]


@pytest.mark.postgres
def test_a_dry_run_removes_nothing_and_reports_the_same_figures(alice, bob, store):
    hashes = archive(alice, "a", "b", "shared")
    archive(bob, "shared")
    orphan, _ = store.put(raw("orphan"))
    young, _ = store.put(raw("young orphan"))
    delete_account(alice.account, True, "admin")
    age(store, [*hashes, orphan], GRACE + HOUR)
    stale_tmp = store.blob_dir / "00" / ".tmp-0000000000000000-x"
    stale_tmp.parent.mkdir(exist_ok=True)
    stale_tmp.write_bytes(b"partial")
    os.utime(stale_tmp, (time.time() - 2 * HOUR,) * 2)

    def snapshot():
        files = sorted(str(p.relative_to(store.root)) for p in store.root.rglob("*"))
        return files, sorted(Blob.objects.values_list("sha256", flat=True))

    before = snapshot()
    dry = gc.collect_garbage(dry_run=True)
    assert snapshot() == before
    assert (dry.rows_removed, dry.orphans_removed, dry.temp_files) == (2, 1, 1)
    assert dry.kept_young == 1  # the young orphan
    real = gc.collect_garbage()
    assert real.counts() == dry.counts()
    assert snapshot() != before

    # The same with held files due for deletion: the dry run counts them, deletes none.
    later = time.time() + gc.HOLD_SECONDS + 60
    dry = gc.collect_garbage(dry_run=True, now=later)
    assert dry.purged == 3 and dry.bytes_freed > 0 and len(held(store)) == 3
    assert gc.collect_garbage(now=later).counts() == dry.counts()
    assert held(store) == [] and in_store(store, young)


@pytest.mark.postgres
def test_a_blob_referenced_after_it_was_listed_is_not_deleted(alice, bob, store):
    (sha,) = archive(alice, "about to be archived again")
    Message.objects.all().delete()
    age(store, [sha], GRACE + HOUR)

    def an_ingest_commits(sha_):
        # Between listing the candidates and deleting them, another account's backup stores
        # the same bytes and points a message at the existing row.
        archive(bob, "about to be archived again")

    report = gc.collect_garbage(store=StoreWithARace(store, "verify", an_ingest_commits))
    assert report.rows_removed == 0
    assert Blob.objects.filter(sha256=sha).exists() and in_store(store, sha)
    assert held(store) == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_message_inserted_against_a_row_being_deleted_fails_its_own_commit(archive_root):
    alice, bob = make_folder(make_account("alice")), make_folder(make_account("bob"))
    (sha,) = archive(alice, "racing")
    Message.objects.all().delete()
    store = gc.default_store()
    age(store, [sha], GRACE + HOUR)
    outcome: list[BaseException | None] = []

    def ingest_commits_a_message():
        # An ingest that found the Blob row earlier and now inserts its message.
        try:
            with transaction.atomic():
                make_message(bob, sha)
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - the assertion below names it
            outcome.append(exc)
        finally:
            connection.close()

    racer = threading.Thread(target=ingest_commits_a_message)

    def an_ingest_starts_to_commit(sha_):
        racer.start()  # it waits for our transaction (row lock or SQLite's write lock)
        time.sleep(0.3)

    racing = StoreWithARace(store, "move_out", an_ingest_starts_to_commit)
    assert gc.collect_garbage(store=racing).rows_removed == 1
    racer.join(timeout=60)
    assert isinstance(outcome[0], IntegrityError)  # its batch rolls back, to be retried
    assert not Message.objects.exists() and not Blob.objects.exists()


@pytest.mark.postgres
def test_a_row_re_created_after_it_was_listed_is_not_deleted(alice, store):
    (sha,) = archive(alice, "row comes and goes")
    Message.objects.all().delete()
    age(store, [sha], GRACE + HOUR)

    def the_row_is_re_created(sha_):
        # Another collector deleted the row after our listing; an ingest inserted it again
        # (created now) and has not committed its message yet.
        row = Blob.objects.get(sha256=sha_)
        row.delete()
        Blob.objects.create(sha256=sha_, size=row.size, stored_size=row.stored_size)

    racing = StoreWithARace(store, "verify", the_row_is_re_created)
    assert gc.collect_garbage(store=racing).rows_removed == 0
    assert Blob.objects.filter(sha256=sha).exists() and in_store(store, sha)


@pytest.mark.postgres
def test_an_ingest_that_loses_its_blob_to_the_cleanup_fails_and_its_retry_stores_it_again(
    alice, bob, store, monkeypatch
):
    (sha,) = archive(alice, "collected mid-ingest")
    Message.objects.all().delete()
    age(store, [sha], GRACE + HOUR)
    real_put_many = store.put_many

    def put_many_then_the_cleanup_runs(raws, meanwhile=None, written=None):
        stored = real_put_many(raws, meanwhile, written)  # finds the blob stored: writes nothing
        assert gc.collect_garbage().rows_removed == 1  # row deleted, file set aside
        return stored

    monkeypatch.setattr(store, "put_many", put_many_then_the_cleanup_runs)
    fetched = FetchedMessage(
        uid=1, raw=raw("collected mid-ingest"), flags=[], internal_date=None, size=0
    )
    with pytest.raises(BlobMissing, match="removed by the cleanup"):
        store_messages(bob, [fetched], store=store)
    assert not Message.objects.exists()  # nothing points at the missing bytes
    monkeypatch.undo()
    (message,) = store_messages(bob, [fetched], store=store)  # the retry writes them again
    assert message.blob_id == sha and store.get(sha) == raw("collected mid-ingest")


def test_a_held_blob_that_an_ingest_referenced_again_is_put_back(alice, bob, store):
    (sha,) = archive(alice, "re-added account")
    Message.objects.all().delete()
    age(store, [sha], GRACE + HOUR)
    assert gc.collect_garbage().rows_removed == 1 and held(store) == [sha]

    # The race the hold exists for: an ingest saw the file before it was set aside, skipped
    # writing it, and then committed a new Blob row and its message.
    size = len(raw("re-added account"))
    Blob.objects.create(sha256=sha, size=size, stored_size=size)
    make_message(bob, sha)

    report = gc.collect_garbage()
    assert report.restored == 1 and report.purged == 0
    assert store.get(sha) == raw("re-added account") and held(store) == []


def test_a_held_copy_of_a_blob_the_ingest_wrote_again_is_dropped(alice, store):
    (sha,) = archive(alice, "written again")
    Message.objects.all().delete()
    age(store, [sha], GRACE + HOUR)
    gc.collect_garbage()
    archive(make_folder(alice.account, "Other"), "written again")  # no file: it is rewritten
    assert in_store(store, sha)
    report = gc.collect_garbage()
    assert report.restored == 1 and held(store) == [] and store.get(sha) == raw("written again")


def make_message(folder, sha: str) -> Message:
    return Message.objects.create(folder=folder, uid=99, blob_id=sha, size=1)


def test_a_damaged_blob_is_quarantined_never_deleted_and_quarantine_is_left_alone(alice, store):
    damaged, intact = archive(alice, "damaged", "intact")
    Message.objects.all().delete()
    path = store.path_for(damaged)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    store.quarantine_dir.mkdir()
    earlier = store.quarantine_dir / f"{'f' * 64}"
    earlier.write_bytes(b"quarantined before")
    age(store, [damaged, intact], GRACE + HOUR)
    os.utime(earlier, (time.time() - 100 * HOUR,) * 2)

    report = gc.collect_garbage()
    assert (report.quarantined, report.rows_removed) == (1, 1)
    quarantined = sorted(p.name for p in store.quarantine_dir.iterdir())
    assert earlier.name in quarantined and any(n.startswith(damaged) for n in quarantined)
    assert held(store) == [intact]
    gc.collect_garbage(now=time.time() + gc.HOLD_SECONDS + 60)
    assert earlier.read_bytes() == b"quarantined before"  # never touched


def test_removals_are_audited_with_counts_and_bytes_only(alice, store):
    (sha,) = archive(alice, "Subject: secret plans")
    delete_account(alice.account, True, "admin")
    age(store, [sha], GRACE + HOUR)
    gc.collect_garbage(actor="command line")
    event = AuditEvent.objects.get(action="archive.gc")
    assert event.actor == "command line"
    assert event.details["rows_removed"] == 1 and event.details["bytes_removed"] > 0
    assert "secret plans" not in str(event.details) and sha not in str(event.details)
    gc.collect_garbage()  # nothing to do: no event
    assert AuditEvent.objects.filter(action="archive.gc").count() == 1


def test_the_command_reports_the_bytes_freed_and_a_dry_run_changes_nothing(alice, store):
    (sha,) = archive(alice, "to free")
    size = store.stored_size(sha)
    delete_account(alice.account, True, "admin")
    age(store, [sha], GRACE + HOUR)

    out = io.StringIO()
    call_command("gc_blobs", "--dry-run", stdout=out)
    assert "DRY RUN" in out.getvalue()
    assert "1 unreferenced blobs and 0 blob files without a row would be removed" in out.getvalue()
    assert in_store(store, sha)

    out = io.StringIO()
    call_command("gc_blobs", stdout=out)
    assert f"removed from the store ({size} bytes" in out.getvalue()
    os.utime(store.root / gc.HELD_DIR / sha, (time.time() - 2 * HOUR,) * 2)
    out = io.StringIO()
    call_command("gc_blobs", stdout=out)
    assert f"1 held files deleted: {size} bytes freed" in out.getvalue()


def test_the_housekeeping_collects_once_an_hour(alice, store):
    (sha,) = archive(alice, "old")
    Message.objects.all().delete()
    age(store, [sha], GRACE + HOUR)
    assert reaper.housekeeping()["blobs_removed"] == 1
    orphan, _ = store.put(raw("another"))
    age(store, [orphan], GRACE + HOUR)
    assert reaper.housekeeping()["blobs_removed"] == 0  # ran a minute ago: not due
    stamp = store.root / gc.HELD_DIR / ".last-run"
    os.utime(stamp, (time.time() - gc.INTERVAL_SECONDS - 1,) * 2)
    assert reaper.housekeeping()["blobs_removed"] == 1 and not in_store(store, orphan)


def test_stale_temporary_files_are_removed_and_fresh_ones_kept(alice, store):
    store.put(raw("makes the directory"))
    prefix = next(store.blob_dir.iterdir())
    stale, fresh = prefix / ".tmp-aaaa-stale", prefix / ".tmp-bbbb-fresh"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"y")
    os.utime(stale, (time.time() - 2 * HOUR,) * 2)
    assert gc.collect_garbage().temp_files == 1
    assert not stale.exists() and fresh.exists()


def test_no_store_yet_means_nothing_to_collect(db, archive_root):
    assert gc.collect_garbage().counts() == gc.GcReport().counts()
    assert gc.collect_if_due() is None and not archive_root.exists()


def test_the_delete_page_says_the_space_is_freed_later_by_the_cleanup(admin_client, alice):
    page = admin_client.get(reverse("accounts:delete", args=[alice.account.pk])).content.decode()
    assert "does not free its disk space at once" in page
    assert "at least 24 hours old" in page
