"""The API tests' world: the named actors (tests/helpers/security.py), each with a token, and an
archive, job and run of the `other` account that no viewer was granted."""

from __future__ import annotations

import pytest

from archive.models import Folder
from jobs.models import FolderRun, Job, JobRun
from tests.archive.browser_helpers import archive_raws
from tests.helpers.api import make_token
from tests.helpers.security import make_account, make_user

SECRET_SUBJECT = "Quarterly figures 4711"


def raw_message(subject: str, msgid: str) -> bytes:
    return (
        f"From: boss@example.org\r\nTo: team@example.org\r\nSubject: {subject}\r\n"
        f"Message-ID: <{msgid}@example.org>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n'
        f"\r\n{subject} body\r\n--b\r\nContent-Type: application/pdf\r\n"
        'Content-Disposition: attachment; filename="plan.pdf"\r\n\r\n%PDF-1.4\r\n--b--\r\n'
    ).encode()


@pytest.fixture
def archive_root(settings, tmp_path):
    """A fresh, empty blob store for the test."""
    root = tmp_path / "archive"
    root.mkdir()
    settings.ARCHIVE_ROOT = root
    return root


@pytest.fixture
def world(db, archive_root):
    granted, other = make_account("granted"), make_account("other")
    folder = Folder.objects.create(account=other, name="INBOX", raw_name="INBOX", uidvalidity=1)
    message = archive_raws(folder, [raw_message(SECRET_SUBJECT, "walk")])[0]
    mine = Folder.objects.create(account=granted, name="INBOX", raw_name="INBOX", uidvalidity=1)
    own = archive_raws(mine, [raw_message("Granted news", "mine")])[0]
    job = Job.objects.create(name="Backup other", account=other)
    run = JobRun.objects.create(job=job, account=other, state=JobRun.State.RUNNING)
    FolderRun.objects.create(run=run, folder="INBOX", state="running", total=10, done=4)
    users = {
        "alice": make_user("alice", "administrator"),
        "oscar": make_user("oscar", "operator"),
        "vera": make_user("vera", "viewer", [granted]),
        "victor": make_user("victor", "viewer"),
    }
    tokens = {
        "alice": make_token(users["alice"], "admin"),
        "oscar": make_token(users["oscar"], "operate"),
        "vera": make_token(users["vera"], "read"),
        "victor": make_token(users["victor"], "read"),
        "expired": make_token(users["alice"], "admin", expired=True),
        "revoked": make_token(users["alice"], "admin", revoked=True),
        "anonymous": None,
    }
    ids = {"account": other.pk, "folder": folder.pk, "message": message.pk, "job": job.pk,
           "run": run.pk, "user": users["victor"].pk}  # fmt: skip
    return {
        "ids": ids, "users": users, "tokens": tokens, "granted": granted, "other": other,
        "own": own, "own_folder": mine, "run": run, "job": job,
    }  # fmt: skip
