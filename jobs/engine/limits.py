"""Provider limits shared by every connection of one backup: bandwidth cap and daily budget."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class BudgetExhausted(Exception):
    """The account's daily download budget is spent: stop cleanly, the next run continues."""


class Throttle:
    """Caps the bytes per second read over all of an account's connections together.

    A token bucket that may go into debt: a reader takes what it read, then sleeps until the
    bucket is back above zero, so the long-run rate never exceeds `rate` bytes per second.
    """

    def __init__(self, rate: int | None, sleep: Callable[[float], None] = time.sleep):
        self.rate = rate or 0
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(self.rate)
        self._last = time.monotonic()

    def consume(self, nbytes: int) -> None:
        if self.rate <= 0:
            return
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.rate, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= nbytes
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)


class Budget:
    """Bytes the account may still download today (None: no budget)."""

    def __init__(self, limit_bytes: int | None, used_today: int = 0):
        self.limit = limit_bytes
        self.used = used_today
        self._lock = threading.Lock()

    def reserve(self, nbytes: int) -> None:
        """Claim `nbytes` before fetching them, or raise BudgetExhausted."""
        if self.limit is None:
            return
        with self._lock:
            # A message bigger than the whole budget still goes through on a fresh day.
            if self.used and self.used + nbytes > self.limit:
                raise BudgetExhausted(
                    f"the daily download budget ({self.limit // (1024 * 1024):,} MB) is spent"
                )
            self.used += nbytes
