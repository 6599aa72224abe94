"""A real Celery worker process for integration tests, using the app's own settings."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]


@dataclass
class CeleryWorker:
    process: subprocess.Popen
    name: str

    @classmethod
    def start(cls, env: dict[str, str], name: str = "w1", concurrency: int = 1) -> CeleryWorker:
        command = [
            sys.executable, "-m", "celery", "-A", "backupweb", "worker", "--loglevel", "INFO",
            "--concurrency", str(concurrency), "--hostname", f"{name}@%h", "--without-gossip",
            "--without-mingle",
        ]  # fmt: skip
        process = subprocess.Popen(
            command, cwd=BASE_DIR, env={**os.environ, **env}, start_new_session=True
        )
        worker = cls(process, name)
        worker.wait_ready(env)
        return worker

    def wait_ready(self, env: dict[str, str], timeout: float = 30.0) -> None:
        import redis

        client = redis.Redis.from_url(env["REDIS_URL"])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"celery worker exited with {self.process.returncode}")
            if any(self.name.encode() in k for k in client.scan_iter("backupweb:worker:*")):
                return
            time.sleep(0.2)
        raise TimeoutError("celery worker did not report ready")

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and its pool), as a crash would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
