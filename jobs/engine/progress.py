"""What every engine reports while it works: one FolderProgress per folder, to a callback.

The job layer's callback (`jobs.progress.RunRecorder.progress`) writes FolderRun rows; the command
line draws bars; tests pass a list's `append`.
"""

from __future__ import annotations

from dataclasses import dataclass

# Bytes of message bodies per FETCH (and per APPEND batch for sync and restore).
DEFAULT_BATCH_BYTES = 8 * 1024 * 1024


@dataclass
class FolderProgress:
    folder: str  # display name
    state: str  # "pending" | "running" | "done" | "partial" (some parked) | "failed" | "skipped"
    total: int = 0  # messages to fetch in this run
    done: int = 0
    bytes: int = 0
    error: str = ""
    # Bytes of the messages to fetch, where the server told their sizes before the download
    # (RFC822.SIZE, STATUS=SIZE); 0 when unknown.
    total_bytes: int = 0
