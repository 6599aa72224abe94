"""Exports from the browser: a folder, a selection, a search result or an account, streamed."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import tempfile
import tracemalloc
import zipfile

import pytest
from django.urls import reverse

from archive.blobstore import get_store
from archive.models import Message
from tests.archive.browser_helpers import archive_raws
from tests.corpus import pick
from tests.helpers.archive import make_folder

pytestmark = pytest.mark.django_db


def _zip(response) -> zipfile.ZipFile:
    assert response.streaming
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def with_attachment(subject: str, data: bytes) -> bytes:
    boundary = b"b0undary"
    head = (
        f"Subject: {subject}\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b0undary"\r\n\r\n'
    ).encode()
    part = (
        b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="data.bin"\r\n\r\n'
    )
    body = base64.encodebytes(data).replace(b"\n", b"\r\n")
    return head + b"--" + boundary + b"\r\n" + part + body + b"--" + boundary + b"--\r\n"


@pytest.fixture
def two_folders(archive_root, folder):
    raws = [m.read() for m in pick(limit=6)]
    archive_raws(folder, raws[:4])
    archive_raws(make_folder(folder.account, "Sent"), raws[4:])
    return raws


def test_a_folder_exports_as_a_zip_of_exact_eml_files_with_a_manifest(two_folders, folder,
                                                                    admin_client):  # fmt: skip
    response = admin_client.get(reverse("archive:export") + f"?scope=folder&folder={folder.pk}")
    assert response["Content-Disposition"].startswith('attachment; filename="')
    assert response["X-Content-Type-Options"] == "nosniff"
    zf = _zip(response)
    emls = sorted(n for n in zf.namelist() if n.endswith(".eml"))
    assert emls == ["INBOX/1.eml", "INBOX/2.eml", "INBOX/3.eml", "INBOX/4.eml"]
    assert "manifest.csv" in zf.namelist()
    got = {hashlib.sha256(zf.read(n)).hexdigest() for n in emls}
    assert got == {hashlib.sha256(r).hexdigest() for r in two_folders[:4]}


def test_a_selection_and_an_account_export_and_mbox_works(two_folders, folder, admin_client):
    ids = list(Message.objects.order_by("pk").values_list("pk", flat=True)[:2])
    response = admin_client.post(reverse("archive:export"),
                                 {"scope": "selection", "ids": ids, "fmt": "eml"})  # fmt: skip
    assert len([n for n in _zip(response).namelist() if n.endswith(".eml")]) == 2
    url = reverse("archive:export") + f"?scope=account&account={folder.account_id}&fmt=mbox"
    names = _zip(admin_client.get(url)).namelist()
    assert sorted(names) == ["INBOX.mbox", "Sent.mbox"]


def test_a_search_result_exports(two_folders, admin_client):
    subject = Message.objects.exclude(subject="").first().subject.split()[0]
    response = admin_client.get(reverse("archive:export") + f"?scope=search&subject={subject}")
    assert [n for n in _zip(response).namelist() if n.endswith(".eml")]


def test_an_export_of_nothing_visible_is_not_found(two_folders, admin_client):
    assert (
        admin_client.get(reverse("archive:export") + "?scope=folder&folder=999").status_code == 404
    )
    assert admin_client.get(reverse("archive:export") + "?scope=bogus").status_code == 404


def test_a_large_export_streams_in_small_pieces_and_every_member_is_the_stored_bytes(
    archive_root, folder, admin_client
):
    # Attachments of random bytes in base64 compress little: a zip of about 12 MB.
    raws = [with_attachment(f"big {i}", os.urandom(3 << 20)) for i in range(4)]
    archive_raws(folder, raws)
    url = reverse("archive:export") + f"?scope=folder&folder={folder.pk}"
    with tempfile.TemporaryFile() as out:
        tracemalloc.start()
        try:
            response = admin_client.get(url)
            assert response.streaming
            sizes = [out.write(chunk) for chunk in response.streaming_content]
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert out.tell() > sum(map(len, raws)) // 2
        assert len(sizes) > 100 and max(sizes) <= 64 << 10  # handed out as it is made
        assert peak < 8 << 20, f"the export held {peak / 2**20:.0f} MiB"
        out.seek(0)
        with zipfile.ZipFile(out) as zf:
            assert zf.testzip() is None
            store = get_store()
            for msg in Message.objects.filter(folder=folder):
                assert (
                    zf.read(f"INBOX/{msg.uid}.eml") == store.get(msg.blob_id) == raws[msg.uid - 1]
                )
