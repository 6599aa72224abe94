"""Hostile input and faults: names built to escape, MIME bombs, a full disk, leaked passwords.

Covered elsewhere and not repeated here: hostile HTML in the viewer in Chromium
(tests/e2e/test_viewer.py), a SIGKILLed worker (tests/jobs/test_worker.py), a connection
dropped mid-fetch (tests/engine/test_failures.py), the password in the database file, logs and
pages (tests/accounts/test_no_secret_leaks.py).
"""

from __future__ import annotations

import errno
import io
import os
import re
import time
import tracemalloc
import zipfile

from django.test import Client
from django.urls import reverse

from archive import blobstore
from archive import verify as checks
from archive.disk import Disk
from archive.export import export_messages
from archive.models import Folder, Message
from jobs.engine.backup.account import backup_account
from tests.archive.browser_helpers import archive_raws
from tests.corpus import pick
from tests.helpers.engine import make_account
from tests.helpers.security import make_user
from tests.servers.mailbox import append, connect, seed_mailbox

HOSTILE_NAMES = [
    "../../../../tmp/pwned.txt",
    "/etc/passwd",
    "..\\..\\windows\\system32\\evil.dll",
    "nul\x00byte.txt",
    "x" * 400 + ".pdf",
    "\u2025\u2215\u2025\u2215etc\u2215passwd",  # two-dot leader and division slash look-alikes
    "CON",
    ".htaccess",
]


def attachment_message(filename: str) -> bytes:
    quoted = filename.replace("\\", "\\\\").replace('"', '\\"')
    return (
        "From: a@example.org\r\nSubject: name test\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        "Content-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: application/octet-stream\r\n"
        f'Content-Disposition: attachment; filename="{quoted}"\r\n\r\npayload\r\n--b--\r\n'
    ).encode("utf-8", "surrogateescape")


def zip_names(data: bytes) -> list[str]:
    return zipfile.ZipFile(io.BytesIO(data)).namelist()


def test_hostile_folder_and_attachment_names_never_escape_the_export(archive_root, tmp_path, db):
    from tests.helpers.security import make_account as plain_account

    owner = plain_account("names")
    before = set(os.listdir("/tmp"))
    for name in ["../../escape", "/abs/olute", "..", "a/../../b", "\u2215etc\u2215x", "y" * 300]:
        folder = Folder.objects.create(account=owner, name=name, raw_name=name, uidvalidity=1)
        archive_raws(folder, [attachment_message(n) for n in HOSTILE_NAMES])
    for fmt in ("eml", "mbox"):
        out = io.BytesIO()
        export_messages(Message.objects.filter(folder__account=owner), out, fmt=fmt)
        names = zip_names(out.getvalue())
        assert len(names) > 1
        for entry in names:
            parts = entry.split("/")
            assert not entry.startswith("/") and ".." not in parts and "\x00" not in entry, entry
            assert all(len(p.encode()) <= 255 for p in parts), entry
    assert not any("pwned" in p for p in set(os.listdir("/tmp")) - before)
    stored = [p for p in archive_root.rglob("*") if p.is_file()]
    # Every file in the archive is named by a content hash, never by a message or folder name.
    assert stored and all(re.fullmatch(r"[0-9a-f]{64}", p.name) for p in stored)
    # The attachment download names are made safe too.
    admin = Client()
    admin.force_login(make_user("root", "administrator"))
    for message in Message.objects.filter(folder__account=owner)[: len(HOSTILE_NAMES)]:
        response = admin.get(reverse("archive:message-part", args=[message.pk, 2]))
        disposition = response["Content-Disposition"]
        assert disposition.startswith("attachment;")
        fallback = disposition.split('filename="')[1].split('"')[0]
        assert "/" not in fallback and "\\" not in fallback, disposition


def deep_nesting(depth: int) -> bytes:
    head = b"From: bomb@example.org\r\nSubject: deep\r\nMIME-Version: 1.0\r\n"
    parts = [head]
    for i in range(depth):
        parts.append(f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n'.encode())
    parts.append(b"Content-Type: text/plain\r\n\r\ncore\r\n")
    for i in reversed(range(depth)):
        parts.append(f"--b{i}--\r\n".encode())
    return b"".join(parts)


def many_parts(count: int) -> bytes:
    body = b"".join(b"--p\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(count))
    head = b"From: bomb@example.org\r\nSubject: parts\r\nMIME-Version: 1.0\r\n"
    return head + b'Content-Type: multipart/mixed; boundary="p"\r\n\r\n' + body + b"--p--\r\n"


def huge_header(size: int) -> bytes:
    to = b", ".join(b"u%d@example.org" % i for i in range(size // 18))
    return b"From: bomb@example.org\r\nSubject: header\r\nTo: " + to + b"\r\n\r\nbody\r\n"


def test_mime_bombs_are_stored_listed_and_opened_within_bounds(archive_root, db):
    from tests.helpers.security import make_account as plain_account

    owner = plain_account("bombs")
    folder = Folder.objects.create(account=owner, name="INBOX", raw_name="INBOX", uidvalidity=1)
    bombs = [deep_nesting(2000), many_parts(100_000), huge_header(10 * 1024 * 1024)]
    tracemalloc.start()
    started = time.monotonic()
    messages = archive_raws(folder, bombs)
    admin = Client()
    admin.force_login(make_user("root", "administrator"))
    assert admin.get(reverse("archive:folder", args=[folder.pk])).status_code == 200
    for message in messages:
        assert admin.get(reverse("archive:message", args=[message.pk])).status_code == 200
        download = admin.get(reverse("archive:message-download", args=[message.pk]))
        assert b"".join(download.streaming_content) == bombs[messages.index(message)]
    elapsed = time.monotonic() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(messages) == 3
    assert elapsed < 60, f"took {elapsed:.1f} s"
    assert peak < 400 * 1024 * 1024, f"peak {peak / 2**20:.0f} MB"


def test_a_full_disk_fails_the_backup_clearly_and_the_next_run_loses_nothing(
    dovecot, mail_user, archive_root, transactional_db, monkeypatch
):
    seed_mailbox(dovecot, mail_user, pick(without=("large",), limit=12), ("INBOX",))
    account = make_account(dovecot, mail_user)

    class DiskThatFillsUp(Disk):
        writes = 0

        def write_all(self, fd, data):
            self.writes += 1
            if self.writes > 4:
                os.write(fd, data[: len(data) // 2])  # half a blob reaches the disk, then ENOSPC
                raise OSError(errno.ENOSPC, "No space left on device")
            return super().write_all(fd, data)

    monkeypatch.setattr(blobstore.BlobStore, "disk", DiskThatFillsUp())  # every store's
    report = backup_account(account)
    assert report.state in ("failed", "partial")
    from archive.models import ParkedMessage

    # The cause is kept with each parked message (the next run retries them).
    parked_errors = list(ParkedMessage.objects.values_list("error", flat=True))
    assert parked_errors and all("No space left on device" in e for e in parked_errors)
    temps = [p for p in archive_root.rglob("*") if p.name.startswith(blobstore.TEMP_PREFIX)]
    assert temps == []  # no half-written blob left behind
    assert list(checks.verify_blobs()) == [] and list(checks.rows_without_blobs()) == []
    monkeypatch.setattr(blobstore.BlobStore, "disk", Disk())  # room on the disk again
    assert backup_account(account).state == "succeeded"
    assert Message.objects.filter(folder__account=account).count() == 12
    assert list(checks.verify_blobs()) == []


def test_the_password_never_reaches_redis_or_an_export(
    dovecot, mail_user, archive_root, celery_broker, transactional_db
):
    import redis

    from jobs import runner
    from jobs.models import Job, JobRun

    client = connect(dovecot, mail_user)
    append(client, "INBOX", b"Subject: one\r\n\r\nbody\r\n")
    client.logout()
    account = make_account(dovecot, mail_user)
    backup_account(account)
    job = Job.objects.create(name="nightly", account=account)
    runner.trigger(job, JobRun.Trigger.MANUAL)  # queued: its Celery message waits in Redis
    broker = redis.Redis.from_url(celery_broker.url)
    deadline = time.monotonic() + 10
    while not broker.keys("*") and time.monotonic() < deadline:
        time.sleep(0.1)
    dumped = b""
    for key in broker.keys("*"):
        kind = broker.type(key)
        if kind == b"list":
            dumped += b"".join(broker.lrange(key, 0, -1))
        elif kind == b"string":
            dumped += broker.get(key) or b""
        elif kind == b"hash":
            dumped += b"".join(k + v for k, v in broker.hgetall(key).items())
        elif kind == b"zset":
            dumped += b"".join(broker.zrange(key, 0, -1))
    assert b"run_job" in dumped  # the message is really there...
    assert mail_user.password.encode() not in dumped  # ...and carries no password
    out = io.BytesIO()
    export_messages(Message.objects.filter(folder__account=account), out, fmt="eml")
    assert mail_user.password.encode() not in out.getvalue()
