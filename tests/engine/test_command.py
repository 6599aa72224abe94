"""`manage.py backup` in a subprocess: exit status, output, and SIGKILL at any moment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from archive.models import Message, ParkedMessage
from tests.corpus import pick
from tests.helpers.engine import archived, archived_bytes, make_account
from tests.servers.mailbox import connect, fetch_raw, seed_mailbox

pytestmark = pytest.mark.django_db(transaction=True)
BASE_DIR = Path(__file__).resolve().parents[2]


def command(*args: str) -> subprocess.Popen:
    """manage.py with the app's own settings on the test database and archive."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "backupweb.settings",
        "DATABASE_URL": f"sqlite:///{settings.DATABASES['default']['NAME']}",
        "ARCHIVE_ROOT": str(settings.ARCHIVE_ROOT),
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "backup", *args],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def test_the_command_prints_plain_progress_and_exits_0(dovecot, mail_user):
    seed_mailbox(dovecot, mail_user, pick(without=("malformed",), limit=4), folders=("INBOX",))
    account = make_account(dovecot, mail_user)
    proc = command(account.name, "--folder", "INBOX")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert b"INBOX: done" in out
    assert b"all 4 messages on the server are in the archive" in out


def test_the_command_exits_1_with_the_reason_on_a_wrong_password(dovecot, mail_user):
    account = make_account(dovecot, mail_user)
    account.set_secret("wrong")
    account.save()
    proc = command(str(account.pk))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert b"Authentication failed" in err


def test_sigkill_at_any_moment_then_a_rerun_loses_nothing_and_duplicates_nothing(
    dovecot, mail_user
):
    messages = pick(without=("malformed",), limit=120)
    seeded = seed_mailbox(dovecot, mail_user, messages, folders=("INBOX", "R&D", "Team Space"))
    account = make_account(dovecot, mail_user)
    for lines_before_kill in (1, 4, 9, 15):
        proc = command(account.name, "--batch-bytes", "30000")
        for _ in range(lines_before_kill):
            if not proc.stdout.readline():
                break
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    partial = Message.objects.filter(folder__account=account).count()
    assert partial < len(seeded)  # the kills did land mid-run

    final = command(account.name)
    out, err = final.communicate(timeout=120)

    assert final.returncode == 0, err
    client = connect(dovecot, mail_user)
    for s in seeded:
        row = archived(account, s.folder).get(uid=s.uid)  # .get: exactly one row each
        assert archived_bytes(row) == fetch_raw(client, s.folder, s.uid)
    assert Message.objects.filter(folder__account=account).count() == len(seeded)
    assert not ParkedMessage.objects.filter(folder__account=account).exists()


def test_a_large_backup_from_the_command_line_runs_in_worker_processes(dovecot, mail_user):
    # The command line forks its worker process (it has no other thread); a Celery worker
    # spawns it (tests/jobs/test_worker.py).
    seeded = seed_mailbox(dovecot, mail_user, pick(without=("malformed",), limit=12))
    account = make_account(dovecot, mail_user)
    os.environ["BACKUP_PROCESS_THRESHOLD"] = "1"
    try:
        proc = command(account.name)
    finally:
        del os.environ["BACKUP_PROCESS_THRESHOLD"]
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert b"worker processes" in out
    assert f"all {len(seeded)} messages on the server are in the archive".encode() in out
    client = connect(dovecot, mail_user)
    for s in seeded:
        row = archived(account, s.folder).get(uid=s.uid)
        assert archived_bytes(row) == fetch_raw(client, s.folder, s.uid)


def test_a_second_backup_of_a_busy_account_names_the_running_run_and_exits_1(dovecot, mail_user):
    from audit.models import AuditEvent
    from jobs.models import FolderRun, JobRun
    from tests.helpers.jobs import wait_for

    seeded = seed_mailbox(
        dovecot, mail_user, pick(without=("malformed",), limit=40), folders=("INBOX", "Work")
    )
    account = make_account(dovecot, mail_user)
    account.bandwidth_limit = max(20_000, sum(s.message.size for s in seeded) // 3)
    account.save()  # about three seconds of downloading: the first run is still going
    first = command(account.name, "--batch-bytes", "4000")
    running = wait_for(
        lambda: JobRun.objects.filter(state=JobRun.State.RUNNING).first(), 60, "a running run"
    )

    second = command(account.name)
    _, err = second.communicate(timeout=60)
    assert second.returncode == 1
    assert f"is busy: run #{running.pk}".encode() in err

    waiting = command(account.name, "--wait")
    assert first.wait(timeout=120) == 0
    out, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, err

    runs = list(JobRun.objects.order_by("pk"))
    assert [r.trigger for r in runs] == [JobRun.Trigger.COMMAND] * 3
    assert [r.state for r in runs] == ["succeeded", "cancelled", "succeeded"]
    assert "busy with run #" in runs[1].summary
    folders = dict(FolderRun.objects.filter(run=runs[0]).values_list("folder", "state"))
    assert {"INBOX", "Work"} <= set(folders) and set(folders.values()) == {"done"}
    assert runs[0].messages_fetched == len(seeded)
    assert Message.objects.filter(folder__account=account).count() == len(seeded)
    actions = list(AuditEvent.objects.order_by("pk").values_list("action", flat=True))
    assert actions.count("run.start") == 3 and actions.count("run.finish") == 2
    assert "run.refused" in actions
