"""Sync when things go wrong: SIGKILL mid-run, dropped connections, refused messages, a full
quota. Every case ends with the destination holding each source message exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from jobs.engine.copying.destination import QuotaExceeded
from jobs.engine.copying.report import SyncOptions
from jobs.engine.sync.account import sync_accounts
from jobs.engine.sync.preflight import preflight
from jobs.models import SyncedMessage
from tests.engine.syncing import mailbox, sample
from tests.helpers.engine import make_account
from tests.servers.dovecot import Dovecot
from tests.servers.mailbox import append, connect, seed_mailbox
from tests.servers.proxy import DroppingProxy

pytestmark = pytest.mark.django_db(transaction=True)
BASE_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def quota_dovecot():
    """Every user may hold 400 kB, and no single message over 60 kB."""
    server = Dovecot.start(separator=".", prefix="INBOX.", quota="400k", max_mail_size="60k")
    yield server
    server.stop()


def sync_command(*args: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "backupweb.settings",
        "DATABASE_URL": f"sqlite:///{settings.DATABASES['default']['NAME']}",
        "ARCHIVE_ROOT": str(settings.ARCHIVE_ROOT),
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "sync", *args],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def translated(box: dict) -> dict:
    return {("INBOX" if n == "INBOX" else f"INBOX.{n}"): c for n, c in box.items()}


def test_a_sync_killed_with_sigkill_resumes_without_a_duplicate(dovecot, dotted_dovecot):
    source_user, dest_user = dovecot.add_user(), dotted_dovecot.add_user()
    seed_mailbox(dovecot, source_user, sample(6), folders=("INBOX", "Lists"))
    source = make_account(dovecot, source_user, max_connections=1)
    dest = make_account(dotted_dovecot, dest_user)
    total = sum(sum(c.values()) for c in mailbox(dovecot, source_user).values())

    proc = sync_command(source.name, dest.name, "--batch-bytes", "20000")
    deadline = time.monotonic() + 60
    while SyncedMessage.objects.filter(source=source).count() < 20:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert SyncedMessage.objects.filter(source=source).count() < total  # killed mid-run

    again = sync_command(source.name, dest.name)
    out, err = again.communicate(timeout=120)

    assert again.returncode == 0, err
    assert f"all {total:,} messages of the source are on the destination, 0 errors" in out.decode()
    assert translated(mailbox(dovecot, source_user)) == mailbox(dotted_dovecot, dest_user)


def test_dropped_connections_are_retried_and_the_copy_is_complete(dovecot, dotted_dovecot):
    source_user, dest_user = dovecot.add_user(), dotted_dovecot.add_user()
    messages = sample(25)
    seed_mailbox(dovecot, source_user, messages, folders=("INBOX",))
    total = sum(m.size for m in messages)
    proxy = DroppingProxy(dovecot.imap_port, after=total // 3, drops=2)
    source = make_account(dovecot, source_user, port=proxy.port, max_connections=1)
    dest = make_account(dotted_dovecot, dest_user)
    logs: list[str] = []
    try:
        report = sync_accounts(source, dest, SyncOptions(batch_bytes=total // 10), log=logs.append)
    finally:
        proxy.close()

    assert proxy.dropped >= 1 and any("connection lost" in line for line in logs)
    assert report.state == "succeeded", report.error
    assert translated(mailbox(dovecot, source_user)) == mailbox(dotted_dovecot, dest_user)


def test_a_message_the_destination_refuses_is_reported_and_the_rest_is_copied(
    dovecot, quota_dovecot
):
    source_user, dest_user = dovecot.add_user(), quota_dovecot.add_user()
    client = connect(dovecot, source_user)
    small = [m for m in sample(30) if m.size < 20_000][:5]
    for m in small[:2]:
        append(client, "INBOX", m.read())
    big = append(client, "INBOX", b"Subject: big\r\n\r\n" + b"x" * 100 + b"\r\n" * 40_000)
    for m in small[2:]:
        append(client, "INBOX", m.read())
    client.logout()
    source = make_account(dovecot, source_user)
    dest = make_account(quota_dovecot, dest_user)

    report = sync_accounts(source, dest)

    inbox = next(f for f in report.folders if f.folder == "INBOX")
    assert report.state == "partial"
    assert inbox.copied == 5 and list(inbox.refused) == [big]
    assert "larger than the maximum size" in inbox.refused[big]
    assert inbox.missing == [(big, inbox.refused[big])]
    assert report.summary() == (
        "5 of 6 messages of the source are on the destination; 1 missing (see the folders); 1 error"
    )


def test_a_full_quota_stops_the_sync_with_a_clear_message_and_preflight_warned(
    dovecot, quota_dovecot
):
    source_user, dest_user = dovecot.add_user(), quota_dovecot.add_user()
    messages = [m for m in sample(1) if 10_000 < m.size < 50_000][:30]  # ~620 kB: over 400 kB
    seed_mailbox(dovecot, source_user, messages, folders=("INBOX",))
    source = make_account(dovecot, source_user)
    dest = make_account(quota_dovecot, dest_user)

    check = preflight(source, dest)
    assert check.fits is False
    assert any("would not fit" in w for w in check.warnings)
    with pytest.raises(QuotaExceeded) as caught:
        sync_accounts(source, dest, SyncOptions(batch_bytes=50_000))

    assert "quota is full" in str(caught.value)
    copied = SyncedMessage.objects.filter(source=source).count()
    assert 0 < copied < len(messages)
    # What was accepted is recorded: a re-run after freeing space copies only the rest.
    assert sum(sum(c.values()) for c in mailbox(quota_dovecot, dest_user).values()) == copied
