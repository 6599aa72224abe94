"""End to end on a real Dovecot: back up, export, and get what the server serves, byte for byte."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import zipfile

import pytest
from django.core.management import call_command

from archive.blobstore import get_store
from archive.export import iter_mboxrd
from archive.s3store import S3Store
from jobs.engine.backup.account import backup_account
from tests.corpus import pick
from tests.helpers.blobs import s3_settings
from tests.helpers.engine import make_account
from tests.servers.mailbox import SEED_FOLDERS, connect, seed_mailbox

pytestmark = pytest.mark.django_db(transaction=True)


def server_bytes(dovecot, user) -> dict[tuple[str, int], bytes]:
    """(folder, uid) -> BODY[] as the server serves it, for every seeded folder."""
    client = connect(dovecot, user)
    served = {}
    try:
        for folder in SEED_FOLDERS:
            client.select_folder(folder, readonly=True)
            uids = client.search("ALL")
            for uid, data in client.fetch(uids, [b"BODY.PEEK[]"]).items() if uids else ():
                served[(folder, uid)] = data[b"BODY[]"]
    finally:
        client.logout()
    return served


@pytest.fixture(params=["local", "s3"])
def backed_up(request, archive_root, dovecot, mail_user, settings):
    """A backup of a seeded mailbox, into a local archive or into object storage (SeaweedFS,
    encrypted: no message byte may land under the local data folder)."""
    if request.param == "s3":
        s3_settings(settings, request.getfixturevalue("seaweedfs"))
        settings.ARCHIVE_ENCRYPTION_KEY = base64.b64encode(os.urandom(32)).decode()
    messages = pick(limit=30) + pick(tag="mbox-from-line", limit=5) + pick(tag="nul-bytes")
    seed_mailbox(dovecot, mail_user, messages)
    account = make_account(dovecot, mail_user)
    report = backup_account(account)
    assert report.state == "succeeded", report.error
    served = server_bytes(dovecot, mail_user)
    if request.param == "s3":
        assert not [p for p in archive_root.rglob("*") if p.is_file()]
        assert isinstance(get_store(), S3Store)
        assert sorted(get_store().iter_hashes()) == sorted(
            {hashlib.sha256(raw).hexdigest() for raw in served.values()}
        )
    return account, served


def test_an_eml_export_after_a_backup_holds_exactly_what_the_server_serves(backed_up, tmp_path):
    account, served = backed_up
    target = tmp_path / "export.zip"
    call_command("export", account.name, "--output", str(target), stdout=io.StringIO())
    with zipfile.ZipFile(target) as zf:
        rows = list(csv.DictReader(io.StringIO(zf.read("manifest.csv").decode("utf-8"))))
        exported = {(r["folder"], int(r["uid"])): zf.read(r["path"]) for r in rows}
        paths = {r["folder"]: r["path"].rsplit("/", 1)[0] for r in rows}
    assert exported == served
    assert paths["Projects/2026/Q4/Deep Dive"] == "Projects/2026/Q4/Deep Dive"
    assert paths["Ünïcode Ordner"] == "Ünïcode Ordner" and paths["R&D"] == "R&D"


def test_an_mbox_export_after_a_backup_gives_back_each_folder(backed_up, tmp_path):
    account, served = backed_up
    target = tmp_path / "export.zip"
    call_command(
        "export", account.name, "-o", str(target), "--format", "mbox", stdout=io.StringIO()
    )
    with zipfile.ZipFile(target) as zf:
        for folder in SEED_FOLDERS:
            expected = [raw for (f, _), raw in sorted(served.items()) if f == folder]
            got = list(iter_mboxrd(io.BytesIO(zf.read(f"{folder}.mbox"))))
            assert got == [r if r.endswith(b"\n") else r + b"\n" for r in expected], folder
