"""IMAP backup against a real Dovecot: folders, flags, dates, read-only, incremental."""

from __future__ import annotations

import dataclasses as dc
import datetime as dt

import pytest

from archive.models import Blob, Folder
from jobs.engine.backup.account import backup_account
from jobs.engine.backup.report import BackupOptions
from tests.corpus import pick
from tests.helpers.engine import archived, archived_bytes, make_account
from tests.servers.mailbox import SEED_FOLDERS, append, connect, fetch_raw, seed_mailbox

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def seeded(dovecot, mail_user):
    messages = pick(without=("malformed",), limit=21)
    return seed_mailbox(dovecot, mail_user, messages, folders=SEED_FOLDERS)


def test_it_archives_every_folder_byte_for_byte_with_flags_and_dates(dovecot, mail_user, seeded):
    account = make_account(dovecot, mail_user)
    events = []
    report = backup_account(account, progress=events.append)
    assert report.state == "succeeded", report
    assert report.messages_fetched == len(seeded)
    client = connect(dovecot, mail_user)
    for s in seeded:
        row = archived(account, s.folder).get(uid=s.uid)
        assert archived_bytes(row) == fetch_raw(client, s.folder, s.uid)
        assert sorted(row.flags) == sorted(f.decode() for f in s.flags)
        assert row.internal_date == s.internal_date
    names = set(Folder.objects.filter(account=account).values_list("name", flat=True))
    assert set(SEED_FOLDERS) <= names
    assert report.summary() == f"all {len(seeded)} messages on the server are in the archive"
    assert {e.state for e in events} >= {"pending", "running", "done"}


def test_a_backup_never_sets_seen_on_the_server(dovecot, mail_user, seeded):
    account = make_account(dovecot, mail_user)
    backup_account(account)
    client = connect(dovecot, mail_user)
    client.select_folder("INBOX", readonly=True)
    flags = client.get_flags(client.search("ALL"))
    unseen = [s for s in seeded if s.folder == "INBOX" and b"\\Seen" not in s.flags]
    assert unseen and all(b"\\Seen" not in flags[s.uid] for s in unseen)


def test_a_second_run_fetches_nothing(dovecot, mail_user, seeded):
    account = make_account(dovecot, mail_user)
    backup_account(account)
    blobs = Blob.objects.count()
    again = backup_account(account)
    assert again.state == "succeeded"
    assert again.messages_fetched == 0 and again.bytes_fetched == 0
    assert Blob.objects.count() == blobs


def test_selective_options_pick_folders_and_sizes(dovecot, mail_user, seeded):
    account = make_account(dovecot, mail_user)
    small = sorted(s.message.size for s in seeded)[5]
    options = BackupOptions(include=["R*", "Team*"], exclude=["Team*"], max_message_size=small * 2)
    report = backup_account(account, options)
    assert [f.folder for f in report.folders] == ["R&D"]
    assert all(r.size <= small * 2 for r in archived(account))
    assert archived(account).count() == report.messages_fetched > 0


def test_a_large_backup_runs_its_folders_in_worker_processes(
    dovecot, mail_user, seeded, monkeypatch
):
    from jobs.engine.backup import account as backup_module

    monkeypatch.setattr(backup_module, "PROCESS_THRESHOLD", 1)
    monkeypatch.setattr(backup_module, "PROCESSES", 2)
    account = make_account(dovecot, mail_user)
    events, logs = [], []
    report = backup_account(account, progress=events.append, log=logs.append)
    assert any("worker processes" in line for line in logs)
    assert report.state == "succeeded", report
    assert report.summary() == f"all {len(seeded)} messages on the server are in the archive"
    assert archived(account).count() == len(seeded)
    assert {e.folder for e in events if e.state == "done"} >= set(SEED_FOLDERS)
    client = connect(dovecot, mail_user)
    for s in seeded[:5]:
        row = archived(account, s.folder).get(uid=s.uid)
        assert archived_bytes(row) == fetch_raw(client, s.folder, s.uid)


def test_a_date_range_is_searched_on_the_server_and_trash_can_be_skipped(
    dovecot, mail_user, seeded
):
    client = connect(dovecot, mail_user)
    append(client, "Trash", b"Subject: binned\r\n\r\nbinned\r\n")
    account = make_account(dovecot, mail_user)
    # Seeded one per hour from 2024-01-01 09:30: the first day holds 15 of the 21.
    day = dt.date(2024, 1, 1)
    options = BackupOptions(since=day, before=day + dt.timedelta(days=1), skip_trash_and_junk=True)
    report = backup_account(account, options)
    assert report.messages_fetched == 15
    assert all(r.internal_date.date() == day for r in archived(account))
    assert "Trash" not in {f.folder for f in report.folders}
    everything = backup_account(account)  # widening the range later fetches the rest
    assert everything.messages_fetched == len(seeded) - 15 + 1


def test_one_bad_folder_fails_only_itself(dovecot, mail_user, seeded, monkeypatch):
    from jobs.engine.backup import folder as folder_module

    real_run = folder_module.FolderBackup.run

    def run(self):
        if self.server.name == "R&D":
            raise ValueError("this folder is cursed")
        return real_run(self)

    monkeypatch.setattr(folder_module.FolderBackup, "run", run)
    account = make_account(dovecot, mail_user)
    report = backup_account(account)
    assert report.state == "partial"
    failed = [f for f in report.folders if f.state == "failed"]
    assert [f.folder for f in failed] == ["R&D"] and "cursed" in failed[0].error
    assert archived(account).count() == len([s for s in seeded if s.folder != "R&D"])


def test_should_stop_cancels_between_batches_and_the_next_run_completes(dovecot, mail_user, seeded):
    account = make_account(dovecot, mail_user, max_connections=1)
    seen = []
    options = BackupOptions(batch_bytes=1)  # one message per batch
    report = backup_account(
        account, options, progress=seen.append, should_stop=lambda: any(e.done >= 2 for e in seen)
    )
    assert report.state == "cancelled"
    assert 0 < archived(account).count() < len(seeded)
    again = backup_account(account)
    assert again.state == "succeeded" and archived(account).count() == len(seeded)


@pytest.mark.parametrize("list_status", [True, False], ids=["list-status", "status-afterwards"])
def test_a_cancelled_backup_still_counts_what_the_server_holds_in_folders_not_reached(
    dovecot, mail_user, seeded, monkeypatch, list_status
):
    if not list_status:  # a server without LIST-STATUS: the count comes from STATUS
        from mail.imap import ImapSession

        listed = ImapSession.list_folders
        monkeypatch.setattr(
            ImapSession,
            "list_folders",
            lambda self: [dc.replace(f, status=None) for f in listed(self)],
        )
    account = make_account(dovecot, mail_user, max_connections=1)
    seen = []
    options = BackupOptions(batch_bytes=1)  # one message per batch
    report = backup_account(
        account, options, progress=seen.append, should_stop=lambda: any(e.done >= 2 for e in seen)
    )
    assert report.state == "cancelled"
    assert sum(f.on_server for f in report.folders) == len(seeded)
    in_archive = archived(account).count()
    assert in_archive < len(seeded)
    assert f"{in_archive:,} of {len(seeded):,} messages on the server" in report.summary()
    not_reached = [e for e in seen if e.state == "cancelled" and e.done == 0 and e.total]
    assert not_reached  # their rows say how many the server holds


def test_a_backup_tells_the_bytes_to_fetch_before_downloading_and_the_run_keeps_them(
    dovecot, mail_user, seeded
):
    from jobs import runner
    from jobs.models import Job, JobRun

    account = make_account(dovecot, mail_user)
    seen = []
    backup_account(account, BackupOptions(folders=["INBOX"]), progress=seen.append)
    inbox = archived(account, "INBOX")
    size = sum(inbox.values_list("size", flat=True))
    first = next(e for e in seen if e.folder == "INBOX" and e.total)
    assert first.done == 0 and first.total == inbox.count() and first.total_bytes == size

    job = Job.objects.create(name="Backup", account=account)
    run, _ = runner.trigger(job, JobRun.Trigger.MANUAL, send=False)
    run = runner.execute(run.pk)
    rows = {f.folder: f for f in run.folders.all()}
    fetched = [f for f in rows.values() if f.total]
    assert fetched and all(f.total_bytes == f.bytes > 0 for f in fetched)


def test_asking_for_a_folder_the_server_lacks_is_a_failure_not_an_empty_success(
    dovecot, mail_user, seeded
):
    account = make_account(dovecot, mail_user)
    report = backup_account(account, BackupOptions(folders=["INBOX", "Nope"]))
    assert report.state == "partial"
    assert [f.folder for f in report.folders if f.state == "failed"] == ["Nope"]
    alone = backup_account(account, BackupOptions(folders=["Nope"]))
    assert alone.state == "failed" and "no such folder" in alone.error


def test_the_biggest_folders_are_backed_up_first(dovecot, mail_user):
    """Biggest in bytes (Dovecot has STATUS=SIZE): one large message outweighs four small."""
    client = connect(dovecot, mail_user)
    sizes = {"Small": (1, 10), "Big": (1, 200_000), "Middle": (4, 10)}
    for name, (count, body_bytes) in sizes.items():
        client.create_folder(name)
        for i in range(count):
            body = b"x" * body_bytes
            append(client, name, f"Subject: {name} {i}\r\n\r\n".encode() + body + b"\r\n")
    client.logout()
    account = make_account(dovecot, mail_user, max_connections=1)  # one worker: one order
    events = []
    report = backup_account(account, BackupOptions(include=list(sizes)), progress=events.append)
    assert report.state == "succeeded", report
    started = [e.folder for e in events if e.state == "running"]
    assert list(dict.fromkeys(started)) == ["Big", "Middle", "Small"]


def test_worker_processes_are_forked_only_while_every_other_thread_is_fork_safe():
    import threading

    from jobs.engine import parallel

    before = parallel.fork_is_safe()  # True unless an earlier test left a thread behind
    release = threading.Event()
    for name in (f"{parallel.FORK_SAFE_PREFIX}flusher", "some-library-thread"):
        thread = threading.Thread(target=release.wait, name=name, daemon=True)
        thread.start()
        safe = parallel.fork_is_safe()
        release.set()
        thread.join()
        release.clear()
        assert safe is (before and name.startswith(parallel.FORK_SAFE_PREFIX))
