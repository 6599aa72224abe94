"""The mass-deletion alarm: a backup that finds much of an account gone from the server warns
on the run, on the command line, through the job's notification targets and on the dashboard,
and keeps every message in the archive."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from archive.models import Message
from audit.models import AuditEvent
from jobs.cli import command_line_job
from jobs.engine.backup.account import backup_account
from jobs.models import Job, JobRun
from tests.helpers.engine import make_account
from tests.servers.mailbox import append, connect, ensure_folder

pytestmark = pytest.mark.django_db(transaction=True)


def seed(dovecot, user, inbox=10, projects=3) -> None:
    client = connect(dovecot, user)
    ensure_folder(client, "Projects")
    for folder, count in (("INBOX", inbox), ("Projects", projects)):
        for n in range(count):
            raw = f"Subject: {folder} {n}\r\nMessage-ID: <{folder}-{n}@x>\r\n\r\nbody {n}\r\n"
            append(client, folder, raw.encode())
    client.logout()


def expunge(dovecot, user, uids) -> None:
    client = connect(dovecot, user)
    client.select_folder("INBOX")
    client.delete_messages(uids)
    client.expunge()
    client.logout()


class Sink:
    """A plain (not a terminal) output for a command, keeping what it wrote."""

    def __init__(self, lines: list[str]):
        self.lines = lines

    def write(self, text):
        self.lines.append(text)

    def flush(self):
        pass

    def isatty(self):
        return False


def backup_from_the_command_line(account) -> tuple[str, str]:
    out, err = [], []
    call_command("backup", account.name, stdout=Sink(out), stderr=Sink(err))
    return "".join(out), "".join(err)


def test_a_wiped_inbox_and_a_deleted_folder_raise_the_alarm_everywhere_and_lose_nothing(
    dovecot, mail_user, webhook, client
):
    seed(dovecot, mail_user)
    account = make_account(dovecot, mail_user)
    job = command_line_job(Job.Kind.BACKUP, account)
    job.set_notify_urls([webhook.url])
    job.save()
    _, err = backup_from_the_command_line(account)
    assert "Warning" not in err and not webhook.received
    expunge(dovecot, mail_user, list(range(1, 9)))  # 8 of INBOX's 10
    connect(dovecot, mail_user).delete_folder("Projects")

    out, err = backup_from_the_command_line(account)  # no SystemExit: it exits 0

    run = JobRun.objects.filter(job=job).latest("pk")
    assert run.state == JobRun.State.SUCCEEDED
    assert run.vanished == {"INBOX": 8, "Projects": 3}
    assert run.warning.startswith("Possible mass deletion: 11 of 13 messages (84%)")
    assert "folders gone: Projects" in run.warning
    assert f"Warning: {run.warning} (run #{run.pk})" in err
    assert f"Backup of {account.name} succeeded" in out
    assert len(webhook.received) == 1
    hook = webhook.received[0]["body"]
    assert "possible mass deletion" in hook["title"] and hook["type"] == "warning"
    assert "  INBOX: 8" in hook["message"] and "  Projects: 3" in hook["message"]
    assert Message.objects.filter(folder__account=account).count() == 13

    admin = get_user_model().objects.create_superuser("alice", "alice@example.org", "pw")
    client.force_login(admin)
    assert "Possible mass deletion" in client.get("/").content.decode()
    client.post(f"/jobs/runs/{run.pk}/acknowledge/")
    assert "Possible mass deletion" not in client.get("/").content.decode()
    assert AuditEvent.objects.filter(action="run.acknowledge_warning").count() == 1
    assert Message.objects.filter(folder__account=account).count() == 13


def test_a_few_messages_gone_raise_no_alarm(dovecot, mail_user):
    seed(dovecot, mail_user)
    account = make_account(dovecot, mail_user)
    backup_account(account)
    expunge(dovecot, mail_user, [1, 2])  # 2 of 13: under 20%

    report = backup_account(account)

    assert report.vanished == {"INBOX": 2}
    assert report.warning == ""


def test_the_accounts_own_thresholds_decide(dovecot, mail_user):
    seed(dovecot, mail_user)
    account = make_account(dovecot, mail_user, mass_deletion_percent=90, mass_deletion_count=1)
    backup_account(account)
    expunge(dovecot, mail_user, [1, 2])  # 2 messages: over a count of 1

    report = backup_account(account)

    assert report.warning.startswith("Possible mass deletion: 2 of 13 messages (15%)")


def test_flags_changed_on_most_messages_at_once_raise_the_alarm(dovecot, mail_user):
    seed(dovecot, mail_user)
    account = make_account(dovecot, mail_user)
    backup_account(account)
    client = connect(dovecot, mail_user)
    client.select_folder("INBOX")
    client.add_flags(list(range(1, 11)), [b"\\Deleted"])  # marked, not yet expunged
    client.logout()

    report = backup_account(account)

    assert report.flags_changed == {"INBOX": 10} and report.vanished == {}
    assert report.warning == (
        "Possible mass deletion: flags of 10 of 13 messages (76%) changed at once (INBOX: 10)"
    )
    inbox = Message.objects.filter(folder__account=account, folder__name="INBOX")
    assert all("\\Deleted" in m.flags for m in inbox)


def test_the_command_line_lists_and_acknowledges_warnings(dovecot, mail_user):
    seed(dovecot, mail_user)
    account = make_account(dovecot, mail_user)
    backup_from_the_command_line(account)
    connect(dovecot, mail_user).delete_folder("Projects")
    backup_from_the_command_line(account)
    run = JobRun.objects.exclude(warning="").get()
    listed, later = [], []

    call_command("acknowledge_warning", stdout=Sink(listed))
    call_command("acknowledge_warning", str(run.pk), stdout=Sink([]))
    call_command("acknowledge_warning", stdout=Sink(later))

    text = "".join(listed)
    assert f"run #{run.pk} {account.name}" in text and "folders gone: Projects" in text
    assert later == []
    assert AuditEvent.objects.get(action="run.acknowledge_warning").actor == "command line"
