"""A backup into object storage (ARCHIVE_URL=s3://..., a real SeaweedFS), also when its folders
run in worker processes: every message lands in the bucket, none under the local data folder;
a restore reads them back from there."""

from __future__ import annotations

import base64
import os

import pytest

from archive.blobstore import get_store
from archive.models import Blob
from archive.s3store import S3Store
from jobs.engine.backup.account import backup_account
from jobs.engine.restore import restore_messages
from tests.corpus import pick
from tests.engine.syncing import mailbox, sample
from tests.helpers.blobs import s3_settings
from tests.helpers.engine import archived, archived_bytes, make_account
from tests.servers.mailbox import SEED_FOLDERS, connect, fetch_raw, seed_mailbox

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("processes", [1, 2], ids=["threads", "worker-processes"])
def test_a_backup_into_object_storage_keeps_every_message_in_the_bucket(
    dovecot, mail_user, settings, seaweedfs, tmp_path, monkeypatch, processes
):
    from jobs.engine.backup import account as backup_module

    if processes > 1:
        monkeypatch.setattr(backup_module, "PROCESS_THRESHOLD", 1)
        monkeypatch.setattr(backup_module, "PROCESSES", processes)
    settings.ARCHIVE_ROOT = tmp_path / "archive"
    s3_settings(settings, seaweedfs)
    seeded = seed_mailbox(dovecot, mail_user, pick(without=("malformed",), limit=21))
    account = make_account(dovecot, mail_user)
    logs = []
    report = backup_account(account, log=logs.append)
    assert report.state == "succeeded", report
    assert any("worker processes" in line for line in logs) == (processes > 1)
    store = get_store()
    assert isinstance(store, S3Store)
    assert sorted(store.iter_hashes()) == sorted(Blob.objects.values_list("sha256", flat=True))
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]
    client = connect(dovecot, mail_user)
    for s in seeded:
        row = archived(account, s.folder).get(uid=s.uid)
        assert archived_bytes(row) == fetch_raw(client, s.folder, s.uid)
    assert {s.folder for s in seeded} <= set(SEED_FOLDERS)


def test_a_wiped_mailbox_is_restored_from_object_storage_as_it_was(
    dovecot, mail_user, settings, seaweedfs, tmp_path
):
    settings.ARCHIVE_ROOT = tmp_path / "archive"
    settings.ARCHIVE_ENCRYPTION_KEY = base64.b64encode(os.urandom(32)).decode()
    s3_settings(settings, seaweedfs)
    seed_mailbox(dovecot, mail_user, sample(60), folders=SEED_FOLDERS)
    account = make_account(dovecot, mail_user)
    assert backup_account(account).state == "succeeded"
    before = mailbox(dovecot, mail_user)
    client = connect(dovecot, mail_user)
    for folder in SEED_FOLDERS:
        client.select_folder(folder)
        client.delete_messages(client.search("ALL"))
        client.expunge()
    client.logout()

    report = restore_messages(account, account)

    assert report.state == "succeeded", report.error
    after = mailbox(dovecot, mail_user)
    assert {f: after[f] for f in SEED_FOLDERS} == {f: before[f] for f in SEED_FOLDERS}
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]
