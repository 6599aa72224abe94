"""Shared helpers for the real servers the tests start: free ports, users, waiting."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path

RUNNING_AS_ROOT = os.geteuid() == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports: each socket stays bound until all are picked."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def wait_for_port(port: int, timeout: float = 15.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening on {port}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def unprivileged_user() -> tuple[str, int, int]:
    """The account servers that refuse root run as: nobody/nogroup when we are root."""
    if RUNNING_AS_ROOT:
        user = pwd.getpwnam("nobody")
        group = grp.getgrnam("nogroup")
        return user.pw_name, user.pw_uid, group.gr_gid
    me = pwd.getpwuid(os.getuid())
    return me.pw_name, me.pw_uid, os.getgid()


def give_to(path: Path, uid: int, gid: int) -> None:
    if not RUNNING_AS_ROOT:
        return
    for root, dirs, files in os.walk(path):
        os.chown(root, uid, gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), uid, gid)


def require_binary(name: str, package: str, extra_paths: tuple[str, ...] = ()) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in extra_paths:
        if os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError(f"{name} not found: install Debian's {package} (make test does this).")
