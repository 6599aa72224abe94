"""Background exports: an export job run by the runner (inline and on a real Celery worker)
writes a zip under DATA_DIR/exports named by its run id, with live progress, a cancel that keeps
nothing, and an access-checked, audited download; old files go with the housekeeping."""

from __future__ import annotations

import csv
import hashlib
import io
import os
import threading
import time
import zipfile
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from archive import export as export_module
from archive.export import iter_mboxrd
from archive.ingest import FetchedMessage, store_messages
from archive.models import Folder, Message
from audit.models import AuditEvent
from jobs import reaper, runner
from jobs.engine.export import export_path, exports_dir, purge_old_exports, scope_options
from jobs.models import FolderRun, Job, JobRun
from tests.corpus import pick
from tests.helpers.jobs import wait_for, wait_for_state
from tests.helpers.security import make_account, make_user

pytestmark = pytest.mark.django_db(transaction=True)
State = JobRun.State
WHEN = datetime(2024, 2, 29, 12, 0, tzinfo=UTC)


def archive_folder(account, name: str, raws: list[bytes]) -> Folder:
    folder = Folder.objects.create(
        account=account, name=name, raw_name=name, delimiter="/", uidvalidity=7
    )
    fetched = [
        FetchedMessage(uid=uid, raw=raw, flags=["\\Seen"], internal_date=WHEN, size=len(raw))
        for uid, raw in enumerate(raws, start=1)
    ]
    store_messages(folder, fetched)
    return folder


@pytest.fixture
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"
    return settings.DATA_DIR


@pytest.fixture
def archived(archive_root, data_dir):
    """An account with two folders of real corpus messages, and one nobody grants."""
    account = make_account("granted")
    raws = [m.read() for m in pick(without=("malformed",), limit=14)]
    archive_folder(account, "INBOX", raws[:9])
    archive_folder(account, "Projekte/Ärger", raws[9:])
    other = make_account("other")
    archive_folder(other, "INBOX", [m.read() for m in pick(tag="mbox-from-line", limit=2)])
    return account


def export_job(account, **options) -> Job:
    defaults = {"scope": "account", "fmt": "eml", "account_ids": [account.pk], "label": "x"}
    return Job.objects.create(
        name=f"Export {Job.objects.count()}",
        kind=Job.Kind.EXPORT,
        account=account,
        options=scope_options(**{**defaults, **options}),
        notify_on_failure=False,
    )


def run_inline(job: Job) -> JobRun:
    run, _ = runner.trigger(job, JobRun.Trigger.COMMAND, send=False)
    return runner.execute(run.pk, worker="test")


def eml_hashes(data: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return [hashlib.sha256(z.read(n)).hexdigest() for n in z.namelist() if n.endswith(".eml")]


def manifest(data: bytes) -> list[dict]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return list(csv.DictReader(io.StringIO(z.read("manifest.csv").decode())))


def archived_hashes(account) -> list[str]:
    return list(Message.objects.filter(folder__account=account).values_list("blob_id", flat=True))


def leftovers() -> list[str]:
    return sorted(p.name for p in exports_dir().iterdir()) if exports_dir().is_dir() else []


def test_an_export_run_writes_the_accounts_sha256_set_named_by_its_run_id(archived):
    run = run_inline(export_job(archived))
    assert run.state == State.SUCCEEDED, run.error
    data = export_path(run.pk).read_bytes()
    assert sorted(eml_hashes(data)) == sorted(archived_hashes(archived))
    assert sorted(r["sha256"] for r in manifest(data)) == sorted(archived_hashes(archived))
    assert leftovers() == [f"{run.pk}.zip"]  # no temporary file left beside it
    assert export_path(run.pk).stat().st_mode & 0o077 == 0  # mail is private
    assert run.messages_fetched == run.messages_total == 14
    assert run.bytes_fetched == export_path(run.pk).stat().st_size
    progress = FolderRun.objects.get(run=run)
    assert progress.state == FolderRun.State.DONE and progress.done == progress.total == 14
    assert "14 messages exported" in run.summary and "Run ended: succeeded" in run.log


def test_a_folder_export_as_mbox_holds_that_folder_only(archived):
    folder = Folder.objects.get(account=archived, name="Projekte/Ärger")
    run = run_inline(export_job(archived, scope="folder", fmt="mbox", folders=[folder.name]))
    assert run.state == State.SUCCEEDED, run.error
    with zipfile.ZipFile(export_path(run.pk)) as z:
        assert z.namelist() == ["Projekte/Ärger.mbox"]
        with z.open("Projekte/Ärger.mbox") as f:
            got = sorted(hashlib.sha256(m).hexdigest() for m in iter_mboxrd(f))
    assert got == sorted(folder.messages.values_list("blob_id", flat=True))


def test_an_export_of_a_folder_that_is_gone_fails_clearly_and_leaves_no_file(archived):
    run = run_inline(export_job(archived, scope="folder", folders=["No such folder"]))
    assert run.state == State.FAILED and run.error_kind == "permanent"
    assert "No such folder" in run.error
    assert leftovers() == []


def test_cancel_stops_a_running_export_and_leaves_no_file(archived, monkeypatch):
    copy = export_module._ZipExport._copy

    def slow_copy(self, *args, **kwargs):  # about 3 s for the account: time to cancel
        time.sleep(0.2)
        return copy(self, *args, **kwargs)

    monkeypatch.setattr(export_module._ZipExport, "_copy", slow_copy)
    run, _ = runner.trigger(export_job(archived), JobRun.Trigger.MANUAL, send=False)

    def execute() -> None:
        try:
            runner.execute(run.pk, worker="test")
        finally:
            connection.close()

    worker = threading.Thread(target=execute)
    worker.start()
    wait_for(lambda: JobRun.objects.get(pk=run.pk).messages_fetched > 0, 20, "progress")
    assert leftovers() and leftovers()[0].endswith(".part")  # written aside while it runs
    assert runner.cancel(run)
    worker.join(30)
    run.refresh_from_db()
    assert run.state == State.CANCELLED, run.error
    assert 0 < run.messages_fetched < 14 and "no file was kept" in run.summary
    assert leftovers() == []
    alice = make_user("alice", "administrator")
    client = Client()
    client.force_login(alice)
    assert client.get(reverse("jobs:export-download", args=[run.pk])).status_code == 404


def test_the_download_is_for_viewers_of_its_accounts_only_and_is_audited(archived):
    run = run_inline(export_job(archived, label="granted"))
    vera = make_user("vera", "viewer", [archived])
    victor = make_user("victor", "viewer")
    url = reverse("jobs:export-download", args=[run.pk])
    outsider = Client()
    outsider.force_login(victor)
    assert outsider.get(url).status_code == 404
    assert outsider.get(reverse("jobs:export-run", args=[run.pk])).status_code == 404
    client = Client()
    client.force_login(vera)
    page = client.get(reverse("jobs:export-run", args=[run.pk]))
    assert page.status_code == 200 and url.encode() in page.content
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="granted.zip"')
    assert response["X-Content-Type-Options"] == "nosniff"
    assert sorted(eml_hashes(b"".join(response.streaming_content))) == sorted(
        archived_hashes(archived)
    )
    event = AuditEvent.objects.get(action="archive.export.download")
    assert event.actor == "vera" and event.account_id == archived.pk
    export_path(run.pk).unlink()
    assert client.get(url).status_code == 410  # expired: the page says so


def test_a_viewer_starts_a_background_export_only_of_granted_mail(archived, celery_broker):
    vera = make_user("vera", "viewer", [archived])
    client = Client()
    client.force_login(vera)
    other = Message.objects.filter(folder__account__name="other")
    mine = Message.objects.filter(folder__account=archived)[:3]
    ids = [m.pk for m in mine] + [m.pk for m in other]
    start = reverse("jobs:export-background")
    response = client.post(start, {"scope": "selection", "ids": ids, "fmt": "eml"})
    job = Job.objects.get(kind=Job.Kind.EXPORT)
    run = job.runs.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("jobs:export-run", args=[run.pk])
    assert sorted(job.options["message_ids"]) == sorted(m.pk for m in mine)
    assert job.options["account_ids"] == [archived.pk] and job.schedule == Job.Schedule.MANUAL
    other_account = other.first().folder.account
    refused = client.post(start, {"scope": "account", "account": other_account.pk})
    assert refused.status_code == 404 and Job.objects.count() == 1
    assert client.get(start, {"scope": "account", "account": archived.pk}).status_code == 405
    run = runner.execute(run.pk, worker="test")
    assert sorted(eml_hashes(export_path(run.pk).read_bytes())) == sorted(m.blob_id for m in mine)


def test_the_archive_pages_offer_a_background_export(archived):
    alice = make_user("alice", "administrator")
    client = Client()
    client.force_login(alice)
    folder = Folder.objects.get(account=archived, name="INBOX")
    start = reverse("jobs:export-background").encode()
    for url in (
        reverse("archive:account", args=[archived.pk]),
        reverse("archive:folder", args=[folder.pk]),
        reverse("archive:search") + "?q=the",
    ):
        page = client.get(url)
        assert page.status_code == 200 and start in page.content, url
        assert b"Export in the background" in page.content, url


def test_old_export_files_are_removed_by_the_housekeeping(data_dir, settings, db):
    settings.EXPORT_RETENTION_DAYS = 7
    exports_dir().mkdir(parents=True)
    old, fresh, part = (exports_dir() / n for n in ("1.zip", "2.zip", ".3-x.part"))
    for path in (old, fresh, part):
        path.write_bytes(b"PK")
    eight_days_ago = time.time() - 8 * 86400
    os.utime(old, (eight_days_ago, eight_days_ago))
    os.utime(part, (eight_days_ago, eight_days_ago))
    assert reaper.housekeeping()["exports_removed"] == 2
    assert leftovers() == ["2.zip"]
    settings.EXPORT_RETENTION_DAYS = 0  # keeps everything
    os.utime(fresh, (eight_days_ago, eight_days_ago))
    assert purge_old_exports() == 0 and leftovers() == ["2.zip"]


def test_a_background_export_is_no_job_of_the_list_and_goes_with_its_file(archived, settings):
    settings.EXPORT_RETENTION_DAYS = 7
    alice = make_user("alice", "administrator")
    client = Client()
    client.force_login(alice)
    client.post(reverse("jobs:export-background"), {"scope": "account", "account": archived.pk})
    export_job = Job.objects.get(kind=Job.Kind.EXPORT)
    backup = Job.objects.create(name="Nightly", account=archived, kind=Job.Kind.BACKUP)
    listed = client.get(reverse("jobs:list")).content
    assert b"Nightly" in listed and export_job.name.encode() not in listed
    Job.objects.filter(pk=export_job.pk).update(created_at=datetime(2020, 1, 1, tzinfo=UTC))
    assert reaper.drop_old_export_jobs() == 0  # its run is still queued
    export_job.runs.update(state=JobRun.State.SUCCEEDED)
    assert reaper.drop_old_export_jobs() == 1
    assert list(Job.objects.all()) == [backup]


def test_an_export_started_from_an_account_page_runs_on_a_real_worker(start_worker):
    # The worker reads the default ARCHIVE_ROOT and DATA_DIR: the test stores its mail there.
    account = make_account("worker-export")
    raws = [m.read() for m in pick(without=("malformed",), limit=6)]
    archive_folder(account, "INBOX", raws)
    start_worker()
    oscar = make_user("oscar", "operator")
    client = Client()
    client.force_login(oscar)
    response = client.post(
        reverse("jobs:export-background"),
        {"scope": "account", "account": account.pk, "fmt": "eml"},
    )
    run = JobRun.objects.get(job__kind=Job.Kind.EXPORT)
    assert response["Location"] == reverse("jobs:run-detail", args=[run.pk])
    try:
        run = wait_for_state(run, State.SUCCEEDED, timeout=60)
        progress = client.get(reverse("jobs:run-progress", args=[run.pk])).content
        download = reverse("jobs:export-download", args=[run.pk])
        assert download.encode() in progress and b"Download export" in progress
        assert run.messages_fetched == run.messages_total == 6
        data = b"".join(client.get(download).streaming_content)
        assert sorted(eml_hashes(data)) == sorted(archived_hashes(account))
    finally:
        export_path(run.pk).unlink(missing_ok=True)
