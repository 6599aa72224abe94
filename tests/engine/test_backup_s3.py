"""A backup into object storage (ARCHIVE_URL=s3://..., a real SeaweedFS), also when its folders
run in worker processes: every message lands in the bucket, none under the local data folder."""

from __future__ import annotations

import pytest

from archive.blobstore import get_store
from archive.models import Blob
from archive.s3store import S3Store
from jobs.engine.backup.account import backup_account
from tests.corpus import pick
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
