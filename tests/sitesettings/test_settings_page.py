"""The settings page: administrators only, saved values over the environment's, secrets
encrypted, every change audited by field name, test buttons that say what failed."""

from __future__ import annotations

import datetime as dt
import json
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, HTTPServer
from threading import Thread

import pytest
from aiosmtpd.controller import Controller
from django.test import Client
from django.urls import reverse

from archive.import_runs import import_root
from audit.log import purge
from audit.models import AuditEvent
from jobs.engine.export import purge_old_exports
from sitesettings.forms import PLAIN
from sitesettings.models import SiteSettings
from sitesettings.values import site_settings
from tests.helpers.security import make_user
from tests.servers.common import free_port
from users.models import Role

URL = "/settings/"


@pytest.fixture
def admin_client(db) -> Client:
    client = Client()
    client.force_login(make_user("alice", Role.ADMINISTRATOR))
    return client


def save(client: Client, **fields) -> object:
    """Post the form as a browser does: every field, empty unless given."""
    data = dict.fromkeys(PLAIN + ("notify_urls", "email_password"), "") | fields
    return client.post(URL, data, follow=True)


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.VIEWER])
def test_operators_and_viewers_are_refused_the_settings_page(db, role):
    client = Client()
    client.force_login(make_user("someone", role))
    assert client.get(URL).status_code == 403
    assert client.post(URL, {"import_dir": "/"}).status_code == 403
    assert not SiteSettings.objects.exists()


def test_the_page_shows_the_environment_values_as_defaults(admin_client, settings):
    settings.AUDIT_RETENTION_DAYS = 123
    settings.NOTIFY_URLS = ["json://hooks.example.org/secret-path-token"]
    page = admin_client.get(URL).content.decode()
    assert "Environment default: 123" in page
    assert "hooks.example.org" in page
    assert "secret-path-token" not in page


def test_the_page_names_the_environments_smtp_server_without_its_password(admin_client, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "mail.example.org", 587
    settings.EMAIL_HOST_PASSWORD = "env-password-123"
    page = admin_client.get(URL).content.decode()
    assert "Environment default: mail.example.org:587" in page
    assert "env-password-123" not in page


def test_saved_values_override_the_environment_until_cleared(admin_client, settings, tmp_path):
    settings.IMPORT_DIR, settings.AUDIT_RETENTION_DAYS = "", 365
    settings.EXPORT_RETENTION_DAYS = 7
    save(
        admin_client,
        import_dir=str(tmp_path),
        audit_retention_days="30",
        export_retention_days="0",
        time_zone="Asia/Tokyo",
    )
    assert import_root() == tmp_path
    values = site_settings()
    assert (values.audit_retention_days, values.export_retention_days) == (30, 0)
    assert values.time_zone == "Asia/Tokyo"
    save(admin_client)
    values = site_settings()
    assert import_root() is None
    assert (values.audit_retention_days, values.export_retention_days) == (365, 7)


def test_the_audit_purge_keeps_the_saved_retention(admin_client, settings):

    from django.utils import timezone

    settings.AUDIT_RETENTION_DAYS = 0  # the environment keeps everything
    AuditEvent(action="x.old", at=timezone.now() - dt.timedelta(days=40)).save()
    save(admin_client, audit_retention_days="30")
    assert purge() == 1
    assert not AuditEvent.objects.filter(action="x.old").exists()


def test_the_export_purge_keeps_the_saved_retention(admin_client, settings, tmp_path):
    import os
    import time

    settings.DATA_DIR, settings.EXPORT_RETENTION_DAYS = tmp_path, 0
    old = tmp_path / "exports" / "old.zip"
    old.parent.mkdir()
    old.write_bytes(b"zip")
    os.utime(old, (time.time() - 3 * 86400,) * 2)
    assert purge_old_exports() == 0
    save(admin_client, export_retention_days="2")
    assert purge_old_exports() == 1


def test_a_relative_or_missing_import_folder_is_refused(admin_client, tmp_path):
    page = save(admin_client, import_dir="relative/path").content.decode()
    assert "Give an absolute path." in page
    page = save(admin_client, import_dir=str(tmp_path / "missing")).content.decode()
    assert "No such folder on the server." in page
    assert site_settings().import_dir == ""


def test_secrets_are_stored_encrypted_and_never_shown_again(admin_client):
    url, password = "json://hooks.example.org/token-4711", "smtp-pass-0815"
    save(admin_client, notify_urls=url, email_host="smtp.example.org", email_password=password)
    row = SiteSettings.objects.get()
    stored = row.notify_urls_encrypted + row.email_password_encrypted
    assert "4711" not in stored and password not in stored
    assert site_settings().notify_urls == [url]
    assert site_settings().email.password == password
    page = admin_client.get(URL).content.decode()
    assert "token-4711" not in page and password not in page
    assert "A password is stored" in page


def test_each_change_is_audited_with_the_field_names_and_no_secret(admin_client):
    save(admin_client, email_host="smtp.example.org", email_password="pw-9731", time_zone="UTC")
    event = AuditEvent.objects.get(action="settings.change")
    assert sorted(event.details["fields"]) == ["email_host", "email_password", "time_zone"]
    assert "pw-9731" not in json.dumps(event.details)
    save(admin_client, email_host="smtp.example.org", time_zone="UTC")  # nothing new
    assert AuditEvent.objects.filter(action="settings.change").count() == 1
    save(admin_client, email_host="smtp.example.org", clear_email_password="on")
    last = AuditEvent.objects.filter(action="settings.change").latest("at")
    assert sorted(last.details["fields"]) == ["email_password", "time_zone"]


@pytest.fixture
def webhook():
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's API)
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", free_port()), Handler)
    Thread(target=server.serve_forever, daemon=True).start()
    yield f"json://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()


def test_the_notification_test_names_each_failing_target(admin_client, webhook, settings):
    settings.NOTIFY_URLS = []
    working, received = webhook
    dead = f"json://127.0.0.1:{free_port()}/nobody-listens"
    save(admin_client, notify_urls=f"{working}\n{dead}")
    page = admin_client.post(reverse("sitesettings:notify-test"), follow=True)
    text = page.content.decode()
    assert len(received) == 1
    assert "Target 2 (json://127.0.0.1:" in text and "failed:" in text
    assert "Target 1" not in text


class Inbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's API)
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


def test_send_test_mail_goes_through_the_saved_smtp_server(admin_client):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        save(
            admin_client,
            email_host="127.0.0.1",
            email_port=str(controller.port),
            email_security="none",
            email_from="backupweb@example.org",
        )
        page = admin_client.post(reverse("sitesettings:mail-test"), {"to": "me@example.org"})
    finally:
        controller.stop()
    assert page.status_code == 302
    assert [m["To"] for m in inbox.messages] == ["me@example.org"]
    assert inbox.messages[0]["From"] == "backupweb@example.org"


def test_a_failing_test_mail_says_which_server_failed(admin_client):
    port = free_port()
    save(admin_client, email_host="127.0.0.1", email_port=str(port), email_security="none")
    page = admin_client.post(
        reverse("sitesettings:mail-test"), {"to": "me@example.org"}, follow=True
    )
    assert f"through 127.0.0.1:{port} failed:" in page.content.decode()


def test_pages_show_times_in_the_saved_time_zone(admin_client):
    save(admin_client, time_zone="Asia/Tokyo")
    page = admin_client.get(reverse("audit:list")).content.decode()
    assert "JST" in page
    save(admin_client, time_zone="America/New_York")
    page = admin_client.get(reverse("audit:list")).content.decode()
    assert ("EST" in page or "EDT" in page) and "JST" not in page


def test_a_new_time_zone_moves_the_existing_schedules_into_it(admin_client):
    from accounts.models import Account
    from jobs.models import Job

    account = Account.objects.create(name="a", host="127.0.0.1", port=1, username="a")
    job = Job.objects.create(
        name="Daily", account=account, schedule=Job.Schedule.DAILY, time_of_day=dt.time(2, 30)
    )
    job.refresh_from_db()
    assert str(job.periodic_task.crontab.timezone) == "UTC"
    save(admin_client, time_zone="Asia/Tokyo")
    job.refresh_from_db()
    assert str(job.periodic_task.crontab.timezone) == "Asia/Tokyo"
    assert job.periodic_task.crontab.hour == "2"


def test_a_worker_writes_the_run_log_in_the_saved_time_zone(admin_client):
    import zoneinfo

    from django.utils import timezone

    from jobs.progress import RunRecorder

    save(admin_client, time_zone="Asia/Tokyo")  # UTC+9 all year: never the server's UTC hour
    tokyo = zoneinfo.ZoneInfo("Asia/Tokyo")
    before = timezone.localtime(timezone=tokyo).strftime("%H")
    recorder = RunRecorder(run_id=0, account_id=0)
    recorder.log("hello")
    after = timezone.localtime(timezone=tokyo).strftime("%H")
    assert recorder.pending_log[0][:2] in {before, after}
    assert recorder.pending_log[0].endswith(" hello")
