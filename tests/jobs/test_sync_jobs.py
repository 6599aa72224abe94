"""Sync and restore as job kinds: runs with history and folder progress, the pages (form,
pre-flight with the mapping, dry run, restore of a selection), bulk migrations with a
concurrency limit and re-runs of failed rows, and a sync run by a real Celery worker."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model

from archive.models import Message
from jobs import bulk, runner
from jobs.engine.backup.account import backup_account
from jobs.kinds import restore_options
from jobs.models import BulkRow, FolderRun, Job, JobRun, SyncedMessage
from tests.engine.syncing import count, mailbox, sample
from tests.helpers.jobs import make_account, wait_for_state
from tests.servers.mailbox import seed_mailbox

pytestmark = pytest.mark.django_db(transaction=True)
State = JobRun.State


@pytest.fixture
def alice(client):
    user = get_user_model().objects.create_superuser("alice", "alice@example.org", "pw")
    client.force_login(user)
    return user


@pytest.fixture
def accounts(dovecot, dotted_dovecot):
    source_user, dest_user = dovecot.add_user(), dotted_dovecot.add_user()
    seed_mailbox(dovecot, source_user, sample(90), folders=("INBOX", "Projects/2026"))
    source = make_account(dovecot, source_user, name="Old provider")
    dest = make_account(dotted_dovecot, dest_user, name="New provider")
    return source, dest, source_user, dest_user


def sync_job(source, dest, **options) -> Job:
    return Job.objects.create(
        name="Migrate", kind=Job.Kind.SYNC, account=source, destination=dest, options=options
    )


def run_here(job: Job) -> JobRun:
    run, _ = runner.trigger(job, send=False)
    return runner.execute(run.pk, worker="test")


def test_a_sync_job_run_records_its_folders_and_the_verification_line(accounts, dotted_dovecot):
    source, dest, source_user, dest_user = accounts

    run = run_here(sync_job(source, dest))

    total = count(dotted_dovecot, dest_user, "INBOX") + count(
        dotted_dovecot, dest_user, "INBOX.Projects.2026"
    )
    assert run.state == State.SUCCEEDED, run.error
    assert run.summary == f"all {total} messages of the source are on the destination, 0 errors"
    assert run.messages_fetched == total
    folders = dict(FolderRun.objects.filter(run=run).values_list("folder", "state"))
    assert folders["INBOX"] == "done" and folders["Projects/2026"] == "done"
    assert run_here(run.job).messages_fetched == 0


def test_creating_a_sync_job_shows_the_preflight_with_the_mapping_before_the_first_run(
    client, alice, accounts
):
    source, dest, *_ = accounts
    response = client.post(
        "/jobs/new/?kind=sync",
        {
            "name": "Move",
            "kind": "sync",
            "account": source.pk,
            "destination": dest.pk,
            "schedule": "manual",
            "enabled": "on",
            "rules": "Projects/* -> Work/*",
            "mirror_deletions": "on",
        },
    )
    job = Job.objects.get(name="Move")
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.pk}/preflight/"
    assert job.kind == "sync" and job.destination == dest and job.options["mirror_deletions"]

    page = client.get(response["Location"]).content.decode()
    assert "Login OK." in page and "UIDPLUS" in page and "QUOTA" in page
    assert "INBOX.Work.2026" in page  # the rule, translated to the destination's layout
    assert "namespace prefix <code>INBOX.</code>" in page
    detail = client.get(f"/jobs/{job.pk}/").content.decode()
    assert "Mirror deletions is on" in detail and "not a backup" in detail
    assert not JobRun.objects.exists()


def test_the_dry_run_page_counts_what_would_be_copied_and_changes_nothing(
    client, alice, accounts, dovecot, dotted_dovecot
):
    source, dest, source_user, dest_user = accounts
    job = sync_job(source, dest)
    before = mailbox(dotted_dovecot, dest_user)

    page = client.post(f"/jobs/{job.pk}/dry-run/").content.decode()

    total = sum(sum(c.values()) for c in mailbox(dovecot, source_user).values())
    assert f"would create 1 folder and copy {total} messages" in page
    assert mailbox(dotted_dovecot, dest_user) == before
    assert not SyncedMessage.objects.exists()


def test_a_restore_job_puts_a_selection_back_and_its_page_comes_from_the_archive(
    client, alice, accounts, dotted_dovecot
):
    source, dest, _source_user, dest_user = accounts
    backup_account(source)
    chosen = list(Message.objects.filter(folder__account=source).order_by("pk")[:3])
    query = "&".join(f"message={m.pk}" for m in chosen)
    form = client.get(f"/jobs/restore/new/?account={source.pk}&{query}").content.decode()
    assert "3 selected messages will be restored" in form

    response = client.post(
        f"/jobs/restore/new/?account={source.pk}&{query}",
        {
            "name": "Put back",
            "kind": "restore",
            "account": source.pk,
            "destination": dest.pk,
            "schedule": "manual",
            "enabled": "on",
            "into": "Restored 2026-11-21",
            "include_deleted": "on",
            "encode_8bit_headers": "on",
            "message_ids": ",".join(str(m.pk) for m in chosen),
        },
    )
    job = Job.objects.get(name="Put back")
    assert response.status_code == 302 and job.kind == "restore"
    assert restore_options(job.options).encode_8bit_headers  # asked for in the form
    edit_page = client.get(f"/jobs/{job.pk}/edit/").content.decode()
    assert re.search(r'name="encode_8bit_headers"[^>]*checked', edit_page)
    run = run_here(job)

    assert run.state == State.SUCCEEDED, run.error
    assert run.messages_fetched == 3
    restored = mailbox(dotted_dovecot, dest_user)
    assert sum(sum(c.values()) for n, c in restored.items() if "Restored 2026-11-21" in n) == 3


CSV = (
    "source_name,source_host,source_port,source_security,source_username,source_password,"
    "destination_name,destination_host,destination_port,destination_security,"
    "destination_username,destination_password\n"
)


def csv_row(src_dovecot, src_user, dst_dovecot, dst_user, n: int, password: str | None = None):
    return (
        f"src{n},127.0.0.1,{src_dovecot.imap_port},none,{src_user.username},"
        f"{password or src_user.password},dst{n},127.0.0.1,{dst_dovecot.imap_port},none,"
        f"{dst_user.username},{dst_user.password}\n"
    )


def test_a_bulk_migration_runs_rows_under_its_limit_and_re_runs_only_failed_rows(
    dovecot, dotted_dovecot, client, alice, celery_broker
):
    # The runs go to the test Redis (no worker listens): this test executes them itself.
    pairs = []
    for _ in range(3):
        src, dst = dovecot.add_user(), dotted_dovecot.add_user()
        seed_mailbox(dovecot, src, sample(200), folders=("INBOX",))
        pairs.append((src, dst))
    text = CSV + "".join(
        csv_row(dovecot, s, dotted_dovecot, d, n, password="wrong" if n == 2 else None)
        for n, (s, d) in enumerate(pairs)
    )
    upload = client.post(
        "/jobs/bulk/new/",
        {"name": "Batch 1", "concurrency": "1", "file": _file(text)},
    )
    migration = bulk.BulkMigration.objects.get()
    assert upload.status_code == 302 and migration.rows.count() == 3

    client.post(f"/jobs/bulk/{migration.pk}/start/")
    queued = JobRun.objects.filter(state=State.QUEUED)
    assert queued.count() == 1  # one at a time
    # Run them as a worker would: each finished run starts the next row.
    while (run := JobRun.objects.filter(state=State.QUEUED).first()) is not None:
        runner.execute(run.pk, worker="test")
    states = {r.line: bulk.status(r).state for r in BulkRow.objects.all()}
    assert sorted(states.values()) == ["done", "done", "failed"]
    page = client.get(f"/jobs/bulk/{migration.pk}/rows/").content.decode()
    assert "Authentication failed" in page or "password" in page.lower()

    failed = next(r for r in BulkRow.objects.all() if bulk.status(r).state == "failed")
    failed.job.account.set_secret(pairs[2][0].password)
    failed.job.account.save()
    done_runs = JobRun.objects.filter(state=State.SUCCEEDED).count()
    client.post(f"/jobs/bulk/{migration.pk}/start/", {"failed": "1"})
    assert JobRun.objects.filter(state=State.QUEUED, job=failed.job).count() == 1
    runner.execute(JobRun.objects.get(state=State.QUEUED).pk, worker="test")
    assert bulk.status(BulkRow.objects.get(pk=failed.pk)).state == "done"
    assert JobRun.objects.filter(state=State.SUCCEEDED).count() == done_runs + 1


def _file(text: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("pairs.csv", text.encode(), content_type="text/csv")


def test_a_sync_job_is_run_by_a_real_worker(start_worker, accounts, dotted_dovecot):
    source, dest, _source_user, dest_user = accounts
    start_worker()
    run, _ = runner.trigger(sync_job(source, dest))
    run = wait_for_state(run, (State.SUCCEEDED, State.FAILED, State.PARTIAL))
    assert run.state == State.SUCCEEDED, run.error
    assert run.worker.startswith("w1@") and run.messages_fetched > 0
    assert run.summary.startswith("all ")


def test_the_new_pages_render_for_a_keyboard_and_a_phone_alike(client, alice, accounts):
    source, dest, *_ = accounts
    migration = bulk.BulkMigration.objects.create(name="Empty batch")
    job = sync_job(source, dest, mirror_deletions=True)
    pages = {
        "/jobs/new/?kind=sync": "Mirror deletions is off by default",
        "/jobs/restore/new/": "Restore under a new folder",
        "/jobs/bulk/": "Empty batch",
        "/jobs/bulk/new/": "source_name",
        f"/jobs/bulk/{migration.pk}/": "0 pending",
        f"/jobs/{job.pk}/edit/": "Folder mapping rules",
        f"/jobs/{job.pk}/dry-run/": "changes nothing on either side",
        "/jobs/": "New sync",
    }
    for url, text in pages.items():
        response = client.get(url)
        assert response.status_code == 200, url
        assert text in response.content.decode(), url
    template = client.get("/jobs/bulk/template.csv")
    assert template["Content-Disposition"].startswith("attachment")
    assert template.content.decode().startswith("source_name,source_protocol")
