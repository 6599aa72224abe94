"""A real PostgreSQL (Debian's server binaries) in a temporary directory, on a free port.

As a module it runs a command with DATABASE_URL pointing at a fresh server:
    python -m tests.servers.postgres pytest -m postgres
"""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.servers.common import (
    RUNNING_AS_ROOT,
    free_port,
    give_to,
    unprivileged_user,
    wait_for_port,
)


def pg_bin(name: str) -> str:
    # Debian keeps the server binaries out of PATH, under /usr/lib/postgresql/<version>/bin.
    for candidate in sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True):
        return candidate
    raise RuntimeError(f"PostgreSQL's {name} not found: install Debian's postgresql package.")


def as_server_user() -> dict:
    """Popen arguments that drop root (PostgreSQL refuses it) to nobody, with no wrapper process
    in between, so signals reach the server itself."""
    if not RUNNING_AS_ROOT:
        return {}
    _, uid, gid = unprivileged_user()
    return {"user": uid, "group": gid, "extra_groups": [], "cwd": "/"}


@dataclass
class Postgres:
    root: Path
    port: int
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"postgres://backupweb@127.0.0.1:{self.port}/backupweb"

    @classmethod
    def start(cls) -> Postgres:
        root = Path(tempfile.mkdtemp(prefix="bw-postgres-"))
        _, uid, gid = unprivileged_user()
        give_to(root, uid, gid)
        os.chmod(root, 0o700)
        data = root / "data"
        subprocess.run(
            [
                pg_bin("initdb"),
                "-D",
                str(data),
                "-U",
                "backupweb",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],  # fmt: skip
            check=True,
            stdout=subprocess.DEVNULL,
            **as_server_user(),
        )
        port = free_port()
        options = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={root}"
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        process = subprocess.Popen(
            [pg_bin("postgres"), "-D", str(data), *options.split()],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            **as_server_user(),
        )
        wait_for_port(port, proc=process)
        subprocess.run(
            [pg_bin("createdb"), "-h", str(root), "-p", str(port), "-U", "backupweb", "backupweb"],
            check=True,
            **as_server_user(),
        )
        return cls(root, port, process)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # "fast" shutdown: end sessions now
            self.process.wait(timeout=30)
        subprocess.run(["rm", "-rf", str(self.root)], check=False)


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m tests.servers.postgres COMMAND [ARGS...]", file=sys.stderr)
        return 2
    server = Postgres.start()
    try:
        env = dict(os.environ, DATABASE_URL=server.url)
        return subprocess.run(argv, env=env).returncode
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
