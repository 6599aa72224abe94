"""Test your backups: the "verify" engine, command and job against a real Dovecot."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from archive.blobstore import get_store
from archive.models import Message
from jobs.engine.backup.account import backup_account
from jobs.engine.verify import INTEGRITY, verify_account
from tests.corpus import pick
from tests.helpers.engine import make_account
from tests.servers.mailbox import append, connect, seed_mailbox

FOLDERS = ("INBOX", "Ünïcode Ordner", "R&D")


@pytest.fixture
def backed_up(dovecot, mail_user, archive_root, transactional_db):
    """An account with 9 corpus messages in 3 folders, backed up once."""
    seed_mailbox(dovecot, mail_user, pick(without=("large",), limit=9), FOLDERS)
    account = make_account(dovecot, mail_user)
    assert backup_account(account).state == "succeeded"
    return account


def blob_path(message: Message):
    return get_store().path_for(message.blob_id)


def by_folder(report):
    return {f.folder: f for f in report.folders}


def test_a_good_backup_verifies_offline_and_online(backed_up):
    report = verify_account(backed_up)
    assert report.ok, report.summary()
    assert report.state == "succeeded"
    assert report.blobs_checked == 9
    folders = by_folder(report)
    assert {INTEGRITY, *FOLDERS} <= set(folders)  # and the empty special-use folders
    assert all(folders[n].on_server == folders[n].in_archive == 3 for n in FOLDERS)
    assert "0 damaged, 0 missing" in report.summary()
    assert "0 messages the archive lacks" in report.summary()
    offline = verify_account(backed_up, online=False)
    assert offline.ok and [f.folder for f in offline.folders] == [INTEGRITY]


def test_a_damaged_blob_is_reported_and_kept(backed_up):
    message = Message.objects.filter(folder__account=backed_up).first()
    path = blob_path(message)
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    report = verify_account(backed_up, online=False)
    assert report.state == "failed"
    assert [p.sha256 for p in report.damaged] == [message.blob_id]
    assert message.blob_id in report.error
    assert path.exists()  # never auto-deleted


def test_a_missing_blob_is_reported(backed_up):
    message = Message.objects.filter(folder__account=backed_up).first()
    blob_path(message).unlink()
    report = verify_account(backed_up, online=False)
    assert report.missing_blobs == [message.blob_id]
    assert by_folder(report)[INTEGRITY].state == "failed"


def test_what_the_archive_lacks_is_listed_per_folder(backed_up, dovecot, mail_user):
    lost = Message.objects.get(folder__account=backed_up, folder__name="R&D", uid=2)
    Message.objects.filter(pk=lost.pk).delete()  # a gap below the cursor
    client = connect(dovecot, mail_user)
    append(client, "INBOX", b"Subject: newer\r\n\r\nafter the backup\r\n")  # above the cursor
    client.logout()
    report = verify_account(backed_up)
    folders = by_folder(report)
    assert folders["R&D"].missing == [2] and folders["R&D"].state == "failed"
    assert "R&D: 1 on the server but not archived (UIDs 2)" in report.error
    assert folders["INBOX"].newer == 1 and folders["INBOX"].state == "done"
    assert report.state == "failed"


def test_a_folder_never_backed_up_is_listed_without_failing(backed_up, dovecot, mail_user):
    client = connect(dovecot, mail_user)
    client.create_folder("Later")
    append(client, "Later", b"Subject: later\r\n\r\nx\r\n")
    client.logout()
    report = verify_account(backed_up)
    assert by_folder(report)["Later"].state == "skipped"
    assert "Never backed up" in by_folder(report)["Later"].error
    assert report.ok


def test_orphans_are_reported_and_never_deleted(backed_up):
    sha, _ = get_store().put(b"Subject: orphan\r\n\r\nno row points here\r\n")
    report = verify_account(backed_up, online=False)
    assert report.orphan_blobs == [sha]
    assert report.ok  # a crash leftover is harmless
    assert get_store().exists(sha)


def test_a_wrong_password_fails_the_online_part_with_a_clear_error(backed_up):
    backed_up.set_secret("not-the-password")
    backed_up.save()
    report = verify_account(backed_up)
    assert report.state == "failed"
    assert report.error.startswith("Could not compare with the server:")
    assert report.blobs_checked == 9  # the offline part still ran


def test_the_command_exits_nonzero_on_problems(backed_up, capsys):
    call_command("verify", backed_up.name, "--offline")
    assert "OK: 9 stored messages re-read" in capsys.readouterr().out
    Message.objects.filter(folder__account=backed_up, folder__name="INBOX", uid=1).delete()
    with pytest.raises(SystemExit) as exit_info:
        call_command("verify", str(backed_up.pk))
    assert exit_info.value.code == 1
    out = capsys.readouterr().out
    assert "PROBLEM INBOX: 1 on the server but not archived (UIDs 1)" in out


def test_a_verify_job_reports_on_the_run_page_and_dashboard_and_notifies(backed_up, webhook):
    from django.contrib.auth import get_user_model
    from django.test import Client

    from jobs import runner
    from jobs.models import Job, JobRun

    job = Job.objects.create(name="Verify", kind=Job.Kind.VERIFY, account=backed_up)
    job.set_notify_urls([webhook.url])
    job.save()
    run, _ = runner.trigger(job, JobRun.Trigger.MANUAL, send=False)
    run = runner.execute(run.pk)
    assert run.state == JobRun.State.SUCCEEDED, run.error
    assert run.messages_fetched == 9 and "9 stored messages re-read" in run.summary
    assert webhook.received == []  # nothing wrong: no notification
    Message.objects.filter(folder__account=backed_up, folder__name="R&D", uid=3).delete()
    run, _ = runner.trigger(job, JobRun.Trigger.MANUAL, send=False)
    run = runner.execute(run.pk)
    assert run.state == JobRun.State.FAILED
    assert run.folders.get(folder="R&D").error.endswith("(UIDs 3)")
    assert "Verification found problems" in webhook.received[0]["body"]["message"]
    admin = get_user_model().objects.create_superuser("root", "r@example.org", "pw-root-1")
    client = Client()
    client.force_login(admin)
    page = client.get(run.get_absolute_url()).content.decode()
    assert "1 on the server but not archived (UIDs 3)" in page
    board = client.get("/").content.decode()
    assert "Backup verification" in board and "messages the archive lacks" in board


def test_a_verify_run_counts_the_messages_it_re_read_like_its_summary(backed_up):
    from jobs import live, runner
    from jobs.models import Job, JobRun

    job = Job.objects.create(name="Verify", kind=Job.Kind.VERIFY, account=backed_up)
    run, _ = runner.trigger(job, JobRun.Trigger.MANUAL, send=False)
    run = runner.execute(run.pk)
    assert run.summary.startswith("9 stored messages re-read")
    stored = sum(Message.objects.filter(folder__account=backed_up).values_list("size", flat=True))
    assert (run.messages_fetched, run.messages_total, run.bytes_fetched) == (9, 9, stored)
    figures = live.overall(run, list(run.folders.all()))
    assert (figures.done, figures.total, figures.bytes) == (9, 9, stored)
    assert figures.total_bytes == stored
