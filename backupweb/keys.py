"""Development secrets generated once under ./data with mode 0600."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path


def new_secret(name: str) -> str:
    if name == "FERNET_KEYS":
        return base64.urlsafe_b64encode(os.urandom(32)).decode()
    return secrets.token_urlsafe(50)


def load_or_create_secret(path: Path, name: str) -> str:
    """Read a generated secret, creating it atomically (and private) on first use."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = new_secret(name)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
        f.flush()
        os.fsync(f.fileno())
    try:
        # link() fails if another process won the race: then its value is the one to use.
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_text().strip()
