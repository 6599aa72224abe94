"""A real redis-server on a free loopback port, in a temporary directory."""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers.common import free_port, require_binary, wait_for_port


@dataclass
class RedisServer:
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="bw-redis-")))
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @classmethod
    def start(cls) -> RedisServer:
        server = cls()
        server._spawn()
        return server

    def _spawn(self) -> None:
        binary = require_binary("redis-server", "redis-server")
        self.process = subprocess.Popen(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.root),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--maxmemory-policy",
                "noeviction",
                "--loglevel",
                "warning",
            ],  # fmt: skip
            stdout=subprocess.DEVNULL,
        )
        wait_for_port(self.port, proc=self.process)

    def _terminate(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def restart(self) -> None:
        """Stop and start again on the same port, keeping its append-only data."""
        self._terminate()
        self._spawn()

    def stop(self) -> None:
        self._terminate()
        subprocess.run(["rm", "-rf", str(self.root)], check=False)
