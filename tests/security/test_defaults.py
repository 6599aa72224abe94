"""Safe defaults, tried the way an attacker or an accident would (issue 19).

DEBUG is off unless asked for; the Redis that `make run` starts refuses clients without its
generated password; files that are not mail are refused at import; inline images and
attachments reach only a signed-in reader who may still read the message; and the launcher
restarts a child that dies instead of stopping the app. The launched app is started once for
the module (it takes a while) and stopped by Ctrl-C at the end.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import redis
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from archive import importer
from archive.models import Folder, Message
from backupweb import launcher
from tests.archive.browser_helpers import archive_raws
from tests.backupweb.test_launcher import get_json, processes_mentioning
from tests.corpus import pick
from tests.helpers.security import PASSWORD
from tests.servers.common import free_port, wait_for_port

BASE_DIR = Path(__file__).resolve().parents[2]
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
WITH_INLINE_IMAGE = (
    b"From: a@example.org\r\nSubject: logo\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: multipart/related; boundary=R\r\n\r\n--R\r\n"
    b"Content-Type: text/html\r\n\r\n<p>hello</p><img src='cid:logo@x'>\r\n--R\r\n"
    b"Content-Type: image/png\r\nContent-ID: <logo@x>\r\nContent-Transfer-Encoding: base64\r\n"
    b"\r\n" + base64.b64encode(PNG) + b"\r\n--R--\r\n"
)
INLINE_PART = 2  # multipart/related 0, text/html 1, image/png 2


# -- DEBUG ------------------------------------------------------------------------------------


def settings_debug(tmp_path: Path, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "DJANGO_SETTINGS_MODULE")}
    code = (
        "import os; os.environ['DJANGO_SETTINGS_MODULE'] = 'backupweb.settings'; "
        "from django.conf import settings; print(settings.DEBUG)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=BASE_DIR, capture_output=True, text=True,
        env={**clean, "DATA_DIR": str(tmp_path), **env},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_debug_is_off_unless_debug_true_opts_in(tmp_path):
    assert settings_debug(tmp_path) == "False"
    assert settings_debug(tmp_path, DEBUG="true") == "True"


# -- the launcher's Redis ---------------------------------------------------------------------


@pytest.fixture
def launcher_redis(tmp_path):
    """The Redis `make run` starts, started the way the launcher starts it."""
    port, password = free_port(), launcher.redis_password(tmp_path)
    command = launcher.redis_command(tmp_path, port, password)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    wait_for_port(port, proc=process)
    yield port, password, command
    process.terminate()
    process.wait(timeout=10)


def test_the_launchers_redis_refuses_clients_without_its_password(launcher_redis, tmp_path):
    port, password, command = launcher_redis
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=port).ping()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=port, password="guessed").ping()
    client = redis.Redis.from_url(launcher.redis_url(port, password))
    assert client.ping() is True
    assert client.config_get("bind") == {"bind": "127.0.0.1"}  # loopback only
    secret = tmp_path / "redis_password"
    assert secret.read_text().strip() == password
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    # Not on its command line, which every local user can read (ps).
    assert not [arg for arg in command if password in arg]


def test_the_launchers_redis_keeps_its_password_across_starts(tmp_path):
    assert launcher.redis_password(tmp_path) == launcher.redis_password(tmp_path)
    assert len(launcher.redis_password(tmp_path)) >= 32


# -- imports ----------------------------------------------------------------------------------


def import_files(account, files: dict[str, bytes]) -> importer.ImportReport:
    uploads = [SimpleUploadedFile(name, data) for name, data in files.items()]
    return importer.import_uploads(account, uploads)


def errors(report: importer.ImportReport) -> dict[str, str]:
    return {p["file"]: p["error"] for p in report.problems}


def test_random_bytes_an_image_and_an_empty_file_are_refused_one_by_one(archive_root, cast):
    good = pick(limit=1)[0].read()
    report = import_files(
        cast.granted,
        {"noise.eml": os.urandom(100 * 1024), "photo.png": PNG, "empty.eml": b"",
         "good.eml": good},
    )  # fmt: skip
    assert report.imported == 1
    found = errors(report)
    assert sorted(found) == ["empty.eml", "noise.eml", "photo.png"]
    assert all(e.startswith(("not an email message", "empty")) for e in found.values()), found
    assert list(Message.objects.values_list("size", flat=True)) == [len(good)]


def test_the_import_page_no_longer_reports_random_bytes_as_an_imported_message(archive_root, cast):
    noise = SimpleUploadedFile("noise.eml", os.urandom(100 * 1024))
    url = reverse("archive:import", args=[cast.granted.pk])
    page = (
        cast.client(cast.alice).post(url, {"folder": "Uploads", "files": [noise]}).content.decode()
    )
    assert "0 messages imported" in page and "1 message imported" not in page
    assert "noise.eml" in page and "not an email message" in page


def test_text_that_is_not_mail_and_binary_headers_are_refused(archive_root, cast):
    report = import_files(
        cast.granted,
        {"notes.txt": b"Shopping list\r\n- milk\r\n", "config.yaml": b"name: x\nport: 8\n",
         "nul.eml": b"Subject: hi\x00\x01\x02\r\n\r\nbody\r\n"},
    )  # fmt: skip
    assert report.imported == 0 and not Message.objects.exists()
    assert sorted(errors(report)) == ["config.yaml", "notes.txt", "nul.eml"]
    assert "binary" in errors(report)["nul.eml"]


def test_a_zip_member_that_is_not_mail_is_refused_and_the_rest_imported(archive_root, cast):
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("mail/1.eml", pick(limit=1)[0].read())
        zf.writestr("mail/cat.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF" + os.urandom(4000))
    report = import_files(cast.granted, {"mail.zip": buf.getvalue()})
    assert report.imported == 1
    assert list(errors(report)) == ["mail/cat.jpg"]


def test_a_truncated_mbox_skips_its_empty_entries_with_a_warning(archive_root, cast):
    first, second = (m.read() for m in pick(without=("mbox-from-line",), limit=2))
    separator = b"From MAILER-DAEMON Thu Jan  1 00:00:00 2024\n"
    mbox = separator + first + b"\n" + separator + separator + second + b"\n" + separator
    report = import_files(cast.granted, {"cut.mbox": mbox})
    assert report.imported == 2 and report.skipped == 2
    assert [p["file"] for p in report.problems] == ["cut.mbox (message 2)", "cut.mbox (message 4)"]
    assert all(p["error"].startswith("warning:") for p in report.problems)
    assert 0 not in Message.objects.values_list("size", flat=True)  # no 0-byte message


def test_a_file_named_mbox_without_messages_is_reported(archive_root, cast):
    report = import_files(cast.granted, {"random.mbox": os.urandom(50_000)})
    assert report.imported == 0 and not Message.objects.exists()
    assert "no messages" in errors(report)["random.mbox"]


# -- inline images and attachments ------------------------------------------------------------


@pytest.fixture
def logo_message(cast, archive_root) -> Message:
    folder = Folder.objects.create(account=cast.granted, name="INBOX", raw_name="INBOX")
    return archive_raws(folder, [WITH_INLINE_IMAGE])[0]


def signed_in(username: str) -> Client:
    """A real sign-in (a session the logout ends), not force_login."""
    client = Client()
    response = client.post(reverse("login"), {"username": username, "password": PASSWORD})
    assert response.status_code == 302
    return client


def image_sources(client: Client, message: Message) -> list[str]:
    body = client.get(reverse("archive:message-body", args=[message.pk]))
    assert body.status_code == 200
    return [s.replace("&amp;", "&") for s in re.findall(r'<img src="([^"]+)"', body.text)]


def fetch_image(src: str, client: Client | None = None) -> bytes | None:
    """What the sandboxed frame gets for an image source: no session cookie unless `client`."""
    if src.startswith("data:"):
        return base64.b64decode(src.split(",", 1)[1])
    response = (client or Client()).get(src)
    ok = response.status_code == 200 and response["Content-Type"].startswith("image/")
    return response.content if ok else None


def part_urls(message: Message) -> list[str]:
    return [reverse(name, args=[message.pk, INLINE_PART])
            for name in ("archive:message-inline", "archive:message-part")]  # fmt: skip


def test_inline_images_are_shown_to_a_signed_in_reader(cast, logo_message):
    client = signed_in("vera")
    assert [fetch_image(s) for s in image_sources(client, logo_message)] == [PNG]
    for url in part_urls(logo_message):
        assert client.get(url).content == PNG


def test_no_image_link_works_after_logout(cast, logo_message):
    client = signed_in("vera")
    sources = image_sources(client, logo_message)
    client.post(reverse("logout"))
    for src in [s for s in sources if not s.startswith("data:")] + part_urls(logo_message):
        assert fetch_image(src) is None, src
        assert fetch_image(src, client) is None, src
    body = client.get(reverse("archive:message-body", args=[logo_message.pk]))
    assert body.status_code == 302 and PNG not in body.content


def test_no_image_link_works_once_the_grant_is_revoked(cast, logo_message):
    client = signed_in("vera")
    sources = image_sources(client, logo_message)
    cast.vera.profile.accounts.remove(cast.granted)
    for src in [s for s in sources if not s.startswith("data:")] + part_urls(logo_message):
        assert fetch_image(src) is None, src
        assert fetch_image(src, client) is None, src
    body = client.get(reverse("archive:message-body", args=[logo_message.pk]))
    assert body.status_code == 404


# -- the launched app -------------------------------------------------------------------------


class Launched:
    def __init__(self, tmp: Path):
        self.data_dir, self.port, self.log = tmp / "data", free_port(), tmp / "launcher.log"
        env = {k: v for k, v in os.environ.items()
               if k not in ("REDIS_URL", "DJANGO_SETTINGS_MODULE", "DEBUG")}  # fmt: skip
        env.update(DATA_DIR=str(self.data_dir), PORT=str(self.port), DJANGO_SUPERUSER_PASSWORD="pw")
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "backupweb.launcher"], cwd=BASE_DIR, env=env,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait(self, condition, what: str, timeout: float = 180):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"launcher exited: {self.log.read_text()[-3000:]}"
            try:
                found = condition()
            except OSError:
                found = None
            if found:
                return found
            time.sleep(0.5)
        raise AssertionError(f"{what} never happened: {self.log.read_text()[-3000:]}")

    def healthy(self) -> dict:
        def check():
            status, body = get_json(self.url("/healthz"))
            return body if status == 200 else None

        return self.wait(check, "healthy")

    def redis_port(self) -> int:
        return int(re.search(rb"embedded Redis on 127.0.0.1:(\d+)", self.log.read_bytes())[1])

    def child_pid(self, *words: str) -> int:
        """The process group leader the launcher started whose command line has `words`."""
        if words == ("redis-server",):  # it rewrites its command line and environment
            words = (f"redis-server 127.0.0.1:{self.redis_port()}",)
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                leader = os.getpgid(int(pid)) == int(pid)
            except OSError:
                continue
            if leader and all(w.encode() in cmdline for w in words) and self.is_ours(pid):
                return int(pid)
        raise AssertionError(f"no process with {words}")

    def is_ours(self, pid: str) -> bool:
        """Started by this launcher (its parent is the launcher)."""
        stat_line = Path(f"/proc/{pid}/stat").read_text()
        return int(stat_line.rsplit(")", 1)[1].split()[1]) == self.process.pid


@pytest.fixture(scope="module")
def launched(tmp_path_factory):
    app = Launched(tmp_path_factory.mktemp("launched"))
    yield app
    if app.process.poll() is None:
        os.killpg(app.process.pid, signal.SIGKILL)
        app.process.wait()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_under_make_run_a_404_is_plain_and_static_files_are_served(launched):
    launched.healthy()
    status, page = get(launched.url("/no-such-page/"))
    assert status == 404
    assert "URLconf" not in page and "healthz" not in page and "Traceback" not in page
    status, login = get(launched.url("/login/"))
    stylesheets = re.findall(r'href="(/static/[^"]+\.css)"', login)
    assert status == 200 and stylesheets
    assert all(get(launched.url(href))[0] == 200 for href in stylesheets)


def test_under_make_run_redis_needs_the_generated_password(launched):
    body = launched.healthy()
    assert body["notes"]["redis"].startswith("password required")
    port = launched.redis_port()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=port).ping()
    with pytest.raises(redis.AuthenticationError):  # not even a task can be queued
        redis.Redis(port=port).lpush("celery", "{}")
    password = (launched.data_dir / "redis_password").read_text().strip()
    assert redis.Redis(port=port, password=password).ping() is True
    assert password.encode() not in launched.log.read_bytes()  # no secret in the logs


@pytest.mark.parametrize("child", [("celery", "worker"), ("redis-server",)])
def test_a_child_that_dies_is_restarted_and_healthz_says_so(launched, child):
    launched.healthy()
    old = launched.child_pid(*child)
    os.killpg(old, signal.SIGKILL)
    name = "worker" if "worker" in child else "redis"
    launched.wait(lambda: f"{name} restarted".encode() in launched.log.read_bytes(), "restart")
    assert launched.child_pid(*child) != old
    body = launched.healthy()
    assert body["checks"] == {"database": "ok", "redis": "ok", "worker": "ok"}
    assert f"{name} restarted 1 time" in body["notes"]["launcher"]
    assert f"after it exited with {-signal.SIGKILL}" in body["notes"]["launcher"]


def test_ctrl_c_still_stops_everything_after_restarts(launched):
    launched.healthy()
    launched.process.send_signal(signal.SIGINT)
    launched.process.wait(timeout=60)
    time.sleep(0.5)
    assert processes_mentioning(str(launched.data_dir)) == []
    with pytest.raises(redis.ConnectionError):  # Redis too, though it hides its environment
        redis.Redis(port=launched.redis_port(), socket_connect_timeout=2).ping()
    assert not (launched.data_dir / "launcher-restarts.json").exists()
