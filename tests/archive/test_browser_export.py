"""Exports from the browser: a folder, a selection, a search result or an account, streamed."""

from __future__ import annotations

import hashlib
import io
import zipfile

import pytest
from django.urls import reverse

from archive.models import Message
from tests.archive.browser_helpers import archive_raws
from tests.corpus import pick
from tests.helpers.archive import make_folder

# The export runs in a thread with its own database connection: rows must be committed.
pytestmark = pytest.mark.django_db(transaction=True)


def _zip(response) -> zipfile.ZipFile:
    assert response.streaming
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


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
