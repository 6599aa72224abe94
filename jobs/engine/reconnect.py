"""How the engines ride out dropped connections: reconnect with exponential backoff.

One policy for backup, sync, restore and POP3: a dropped connection or a timeout costs a
reconnect and a retry from the last committed batch; a permanent error (authentication) stops
the whole run; anything else fails only the folder it happened in.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.db import close_old_connections

from jobs.engine.drops import is_connection_error
from mail import errors

RETRIES = 5  # reconnects per folder (per run for POP3) before it is given up
BACKOFF_BASE = 1.0  # seconds; doubled per attempt
BACKOFF_MAX = 30.0


def backoff(attempt: int) -> float:
    """Seconds to wait before retry number `attempt` (1, 2, ...)."""
    return min(BACKOFF_MAX, BACKOFF_BASE * 2 ** (attempt - 1))


def connect_with_retry[T](connect: Callable[[], T], log: Callable[[str], None]) -> T:
    """The first connection of a run: transient failures are retried, the rest go up."""
    attempt = 0
    while True:
        try:
            return connect()
        except errors.TransientError as exc:
            attempt += 1
            if attempt > RETRIES:
                raise
            delay = backoff(attempt)
            log(f"cannot connect ({exc}); retry in {delay:g}s")
            time.sleep(delay)


class ReconnectingRun:
    """A run over folders, one worker thread or process per connection.

    Subclasses provide `connect()`, `attempt(item, conn)`, `drop(conn)` (close a broken
    connection, return None), `stop_all(exc, item)`, `failed(item, exc, unreachable=False)`,
    `halt` (a threading.Event) and `ctx.log`. A worker keeps its connection in
    `holder["conn"]` across the folders it takes. `made_progress(item)` may say that the
    failed attempt got somewhere (committed a batch, parked a message that kept breaking the
    connection): the count of reconnects then starts again, so a long folder on a flaky line,
    or one with several such messages, is not given up while it advances.
    """

    def made_progress(self, item: Any) -> bool:
        return False

    def with_reconnect(self, item: Any, name: str, holder: dict) -> Any:
        attempt = 0
        while True:
            try:
                if holder.get("conn") is None:
                    holder["conn"] = self.connect()
                return self.attempt(item, holder["conn"])
            except errors.PermanentError as exc:
                return self.stop_all(exc, item)
            except Exception as exc:  # noqa: BLE001 - sorted below
                if not (is_connection_error(exc) or isinstance(exc, errors.TransientError)):
                    return self.failed(item, exc)
                holder["conn"] = self.drop(holder["conn"])
                attempt = 1 if self.made_progress(item) else attempt + 1
                if attempt > RETRIES or self.halt.is_set():
                    return self.failed(item, exc, unreachable=True)
                delay = backoff(attempt)
                self.ctx.log(f"{name}: connection lost ({exc}); retry in {delay:g}s")
                time.sleep(delay)
                close_old_connections()
