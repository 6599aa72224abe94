"""Restarts of `make run`'s children: the launcher records them, /healthz shows them.

A small JSON file in DATA_DIR, not Redis: Redis is one of the children that may be down or
restarting. The launcher empties it when it starts and removes it when it stops, so a web
server started by hand never shows an old session's restarts.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

FILE_NAME = "launcher-restarts.json"


def status_path(data_dir: Path) -> Path:
    return Path(data_dir) / FILE_NAME


def read(data_dir: Path) -> dict[str, dict]:
    try:
        data = json.loads(status_path(data_dir).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def record(data_dir: Path, name: str, exit_code: int | None) -> int:
    """Count one restart of `name` (after it exited with `exit_code`); the new count."""
    data = read(data_dir)
    entry = data.get(name) or {}
    entry = {"restarts": int(entry.get("restarts", 0)) + 1, "exit_code": exit_code}
    entry["at"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    data[name] = entry
    path = status_path(data_dir)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)  # readers see the old file or the new one, never half of one
    return entry["restarts"]


def clear(data_dir: Path) -> None:
    status_path(data_dir).unlink(missing_ok=True)


def summary(data_dir: Path) -> str:
    """One line for /healthz, "" when nothing was restarted."""
    parts = []
    for name, entry in sorted(read(data_dir).items()):
        count = entry.get("restarts", 0)
        parts.append(
            f"{name} restarted {count} time{'s' if count != 1 else ''} "
            f"(last at {entry.get('at')}, after it exited with {entry.get('exit_code')})"
        )
    return "; ".join(parts)
