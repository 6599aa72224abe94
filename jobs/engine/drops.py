"""Dropped connections: which errors mean the connection is gone, and which messages keep
breaking it (shared by backup, sync and restore)."""

from __future__ import annotations

import imaplib
from collections.abc import Iterable

from imapclient.exceptions import IMAPClientAbortError

from archive.folder_state import DROPPED_EVERY_TIME
from mail import errors


class Cancelled(Exception):
    """should_stop() said so between two batches."""


# Errors that mean the connection is gone (reconnect and resume), as opposed to a NO or BAD
# about one command (the message or the folder is the problem).
CONNECTION_ERRORS = (imaplib.IMAP4.abort, IMAPClientAbortError, OSError, EOFError)


def is_connection_error(exc: BaseException) -> bool:
    return isinstance(exc, CONNECTION_ERRORS)


ISOLATE_AFTER = 2  # drops with a UID in flight before its batch is fetched one message at a time
DROPS_TO_PARK = 3  # drops with a UID in flight (the last one fetched alone) before it is parked


class Suspects:
    """Which UIDs were in flight when the connection broke, across the reconnects of one folder
    in one run (the retry loop starts a new FolderBackup per connection; this outlives them).

    A network blip hits one batch once. A message that breaks the connection whenever it is
    fetched (a server bug, a proxy, a timeout on a huge or damaged message) hits its batch again
    and again: after the second drop that batch is fetched one message at a time, each committed
    alone, and the message in flight at the third drop is parked with the reason, so the rest of
    the folder completes. A UID parked for this by an earlier run is fetched alone, after
    everything else, and parked again at its first drop: one reconnect per run, not a series."""

    def __init__(self) -> None:
        self.drops: dict[int, int] = {}
        self.probed: set[int] = set()  # parked for drops by an earlier run
        self.parked: set[int] = set()  # parked by this run: not fetched again in it
        self.progressed = False  # something committed since the retry loop last asked

    def dropped(self, uids: Iterable[int]) -> None:
        for uid in uids:
            self.drops[uid] = self.drops.get(uid, 0) + 1

    def isolate(self, batch: list[int]) -> bool:
        return len(batch) > 1 and any(self.drops.get(u, 0) >= ISOLATE_AFTER for u in batch)

    def condemned(self) -> dict[int, int]:
        """UID -> drops, for the UIDs to park now."""
        return {
            uid: n
            for uid, n in self.drops.items()
            if uid not in self.parked and n >= (1 if uid in self.probed else DROPS_TO_PARK)
        }

    def take_progress(self) -> bool:
        progressed, self.progressed = self.progressed, False
        return progressed


def dropped_error(drops: int) -> str:
    tries = f"{drops} attempts" if drops > 1 else "1 attempt, fetched alone"
    return f"{DROPPED_EVERY_TIME} ({tries})"


def sentence(exc: BaseException) -> str:
    """An error as one line for a folder's report: ours as they are, others with their class."""
    if isinstance(exc, errors.EngineError):
        return str(exc)
    text = str(exc) or exc.__class__.__name__
    return f"{exc.__class__.__name__}: {text}"[:500]
