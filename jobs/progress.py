"""What a running run writes down: per-folder progress, a bounded log, its heartbeat and lease.

The engine calls `progress` and `log` from whatever thread it works in; they only touch memory.
One flusher thread writes everything to the database about once a second, renews the account
lease, and reads the cancel flag, so the engine never waits on a database write of ours and
`should_stop` is a cheap check of an Event.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.utils import timezone

from backupweb.logs import redact
from jobs import leases
from jobs.engine.parallel import FORK_GATE, FORK_SAFE_PREFIX
from jobs.models import LOG_MAX_CHARS, FolderRun, JobRun
from sitesettings.values import local_now, site_zone

logger = logging.getLogger("jobs.run")

FLUSH_SECONDS = 1.0
FINISHED_FOLDER_STATES = {"done", "partial", "failed", "skipped"}


@dataclass
class FolderState:
    folder: str
    state: str = "pending"
    total: int = 0
    done: int = 0
    bytes: int = 0
    total_bytes: int = 0
    error: str = ""
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    dirty: bool = True


@dataclass
class RunRecorder:
    run_id: int
    account_id: int
    folders: dict[str, FolderState] = field(default_factory=dict)
    pending_log: list[str] = field(default_factory=list)
    stop_event: threading.Event = field(default_factory=threading.Event)
    # Why we stopped on our own: "cancelled" (the admin asked) or "lost" (reaped or lease lost).
    stop_reason: str = ""
    # A second listener, told what the engine reports as it happens: the command line's bars.
    listener: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _done: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _last_renew: float = 0.0
    # The site's time zone for the log's times, read once (a worker serves no request).
    zone: Any = field(default_factory=site_zone)

    # --- callbacks handed to the engine -------------------------------------------------------
    def progress(self, p: Any) -> None:
        now = timezone.now()
        with self._lock:
            state = self.folders.setdefault(p.folder, FolderState(p.folder))
            if p.state == "running" and state.started_at is None:
                state.started_at = now
            if p.state in FINISHED_FOLDER_STATES and state.finished_at is None:
                state.finished_at = now
            state.state, state.total, state.done = p.state, p.total, p.done
            state.bytes, state.error, state.dirty = p.bytes, p.error, True
            state.total_bytes = getattr(p, "total_bytes", 0)
        if self.listener is not None:
            self.listener.update(p)

    def log(self, message: str) -> None:
        line = f"{local_now(self.zone):%H:%M:%S} {redact(str(message))}"
        logger.info(line, extra={"run_id": self.run_id, "account_id": self.account_id})
        with self._lock:
            self.pending_log.append(line)
        if self.listener is not None:
            self.listener.log(redact(str(message)))

    def should_stop(self) -> bool:
        return self.stop_event.is_set()

    # --- the flusher thread -------------------------------------------------------------------
    def start(self) -> None:
        name = f"{FORK_SAFE_PREFIX}run-{self.run_id}"
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the flusher and write what is left, from the calling thread."""
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.flush()

    def _loop(self) -> None:
        try:
            while not self._done.wait(FLUSH_SECONDS):
                try:
                    with FORK_GATE:  # never mid-write when the engine forks a worker
                        self.flush()
                        self._heartbeat()
                except Exception:  # a locked or briefly unreachable database: try next tick
                    logger.exception("run flush failed", extra={"run_id": self.run_id})
        finally:
            connection.close()

    def _heartbeat(self) -> None:
        now = timezone.now()
        alive = JobRun.objects.filter(pk=self.run_id, state=JobRun.State.RUNNING)
        if not alive.update(heartbeat_at=now):
            self._stop_for("lost", "The run was marked interrupted elsewhere; stopping.")
            return
        if time.monotonic() - self._last_renew >= settings.JOBS_HEARTBEAT_SECONDS:
            self._last_renew = time.monotonic()
            if not leases.renew(self.account_id, self.run_id):
                self._stop_for("lost", "Lost the account lock to another run; stopping.")
        if alive.filter(cancel_requested=True).exists():
            self._stop_for("cancelled", "Cancel requested: stopping after the current batch.")

    def _stop_for(self, reason: str, message: str) -> None:
        if not self.stop_event.is_set():
            self.stop_reason = reason
            self.log(message)
            self.stop_event.set()

    def flush(self) -> None:
        with self._lock:
            dirty = [self._snapshot(f) for f in self.folders.values() if f.dirty]
            for f in self.folders.values():
                f.dirty = False
            lines, self.pending_log = self.pending_log, []
            totals = self._totals()
        close_old_connections()
        for state in dirty:
            self._write_folder(state)
        JobRun.objects.filter(pk=self.run_id).update(**totals)
        if lines:
            append_log(self.run_id, lines)

    @staticmethod
    def _snapshot(state: FolderState) -> FolderState:
        return FolderState(**{**state.__dict__, "dirty": False})

    def _totals(self) -> dict[str, int]:
        folders = self.folders.values()
        return {
            "folders_total": len(self.folders),
            "folders_failed": sum(f.state == "failed" for f in folders),
            "messages_total": sum(f.total for f in folders),
            "messages_fetched": sum(f.done for f in folders),
            "bytes_fetched": sum(f.bytes for f in folders),
        }

    def _write_folder(self, s: FolderState) -> None:
        FolderRun.objects.update_or_create(
            run_id=self.run_id,
            folder=s.folder,
            defaults={
                "state": s.state,
                "total": s.total,
                "done": s.done,
                "bytes": s.bytes,
                "total_bytes": s.total_bytes,
                "error": s.error[:2000],
                "started_at": s.started_at,
                "finished_at": s.finished_at,
            },
        )


def append_log(run_id: int, lines: list[str]) -> None:
    """Append lines to a run's log, keeping it under LOG_MAX_CHARS (first and latest lines)."""
    text = "\n".join(lines) + "\n"
    JobRun.objects.filter(pk=run_id).update(log=Concat(F("log"), Value(text)))
    run = JobRun.objects.filter(pk=run_id).only("log").first()
    if run is not None and len(run.log) > LOG_MAX_CHARS:
        JobRun.objects.filter(pk=run_id).update(log=bound_log(run.log))


def bound_log(log: str) -> str:
    """Keep the head (connection, folders seen) and the most recent tail of a long log."""
    head_size = LOG_MAX_CHARS // 4
    head = log[:head_size].rsplit("\n", 1)[0]
    tail = log[-(LOG_MAX_CHARS - head_size - 100) :].split("\n", 1)[-1]
    dropped = log.count("\n") - head.count("\n") - tail.count("\n") - 1
    return f"{head}\n[... {max(dropped, 0)} lines left out ...]\n{tail}"
