"""Folder workers as processes, for large backups on machines with several cores.

Threads share one interpreter lock, and storing a message (hashing, compressing, parsing for the
index) is CPU work: measured on 2 cores, 4 threads were no faster than 1. So a large backup runs
its folders in a few processes, each with its own connection and database connection: the parent
(in a thread) and children, forked from the command line and spawned under Celery; the parent
relays the children's progress, logs and reports. Small backups keep the threads (a spawned
process costs about half a second to start Django).

The processes come from billiard, Celery's own fork of multiprocessing: a Celery prefork worker
is a daemonic process, from which the standard library refuses to start children, and billiard
lets it (our children are daemonic themselves and stop when their parent goes away). This module
imports nothing of Django at the top (`parallel` is plain Python): a spawned child imports it
before Django is set up.
"""

from __future__ import annotations

import importlib
import os
import queue
import threading
from typing import Any

import billiard

from jobs.engine import parallel

EVENT_POLL = 0.2  # seconds between checks of should_stop while the children work


def run_in_processes(run: Any, work: list, processes: int) -> None:
    """Back up `work` (ServerFolders) with `processes` workers; fills run.reports.

    The parent is one of them: it has Django loaded and is otherwise idle while the children
    work, so it takes folders in a thread of its own from the start, while the others start
    (each child costs about half a second of CPU to import and set up Django)."""
    from django.conf import settings
    from django.db import connections

    # Forking skips a child's second or more of importing and setting up Django (measured: a
    # 8,000-message backup took 11.5-13 s spawned, 7.4-8.3 s forked), but is only safe where no
    # other thread can hold a lock the child would then wait on forever: the command line, whose
    # only other thread is the run's flusher (fork-safe, `parallel.fork_is_safe`); not a Celery
    # pool process (daemonic, with the pool's own state), which spawns.
    forking = parallel.fork_is_safe() and not billiard.current_process().daemon
    ctx = billiard.get_context("fork" if forking else "spawn")
    todo, events, stop = ctx.Queue(), ctx.Queue(), ctx.Event()
    for folder in [*work, *[None] * processes]:  # then one None per worker: nothing left
        todo.put(folder)
    config = {
        "settings_module": settings.SETTINGS_MODULE,
        "databases": {"default": dict(settings.DATABASES["default"])},
        "archive_root": str(settings.ARCHIVE_ROOT),
        "archive_url": getattr(settings, "ARCHIVE_URL", ""),
        "archive_s3": dict(getattr(settings, "ARCHIVE_S3", {})),
        # The child builds the same kind of run by name, once Django is set up there.
        "run_class": f"{type(run).__module__}:{type(run).__qualname__}",
    }
    connections.close_all()  # nothing inherited, but do not hold a write lock meanwhile
    args = (config, run.ctx.account.pk, run.ctx.options, todo, events, stop, os.getpid())
    children = [
        ctx.Process(target=child_main, args=args, daemon=True) for _ in range(processes - 1)
    ]
    for child in children:
        child.start()
    own = threading.Thread(target=_parent_worker, args=(run, todo, events), name="backup-parent")
    own.start()
    try:
        _relay(run, children, events, stop, {f.raw_name: f for f in work}, own)
    except BaseException:
        run.halt.set()  # the parent's own worker stops at its next batch too
        raise
    finally:
        stop.set()
        own.join()


def _parent_worker(run, todo, events) -> None:
    """The parent's share of the folders."""
    try:
        run.worker(_Folders(todo))
    finally:
        events.put(("exit", os.getpid()))


class _Folders:
    """The shared queue as the thread workers' queue.Queue: empty at the first None. (Not
    get_nowait: a multiprocessing queue may still be handing over items just put.)"""

    def __init__(self, todo):
        self.todo = todo

    def get_nowait(self):
        folder = _next_folder(self.todo, lambda: False)
        if folder is None:
            raise queue.Empty
        return folder


def _next_folder(todo, should_stop):
    """The next folder, or None when there is none left (or the run stops)."""
    while True:
        try:
            return todo.get(timeout=EVENT_POLL)
        except queue.Empty:
            if should_stop():
                return None


def _relay(run, children, events, stop, folders: dict, own: threading.Thread) -> None:
    started: dict[int, str] = {}  # child pid -> the folder it is working on
    exited: set[int] = set()
    # A worker's "exit" comes after everything else it sent (one pipe per process, in order).
    while len(exited) <= len(children):
        if run.ctx.should_stop():
            stop.set()
        try:
            event = events.get(timeout=EVENT_POLL)
        except queue.Empty:
            if not own.is_alive() and not any(c.is_alive() for c in children):
                break  # a child was killed: it never said "exit"; what it sent has been read
            continue
        if event[0] == "exit":
            exited.add(event[1])
        else:
            _handle(run, event, started, stop)
    for child in children:
        child.join(timeout=5)
    _bury(run, children, started, folders)
    if not run.halt.is_set() and not run.ctx.should_stop():
        from jobs.engine.backup.report import FolderReport

        for raw_name, folder in folders.items():  # the children died before reaching it
            if raw_name not in run.reports:
                error = "not backed up: the worker processes stopped early"
                run.reports[raw_name] = FolderReport(folder.name, "failed", error=error)


def _handle(run, event: tuple, started: dict, stop) -> None:
    kind, pid, *data = event
    if kind == "progress":
        run.ctx.progress(data[0])
    elif kind == "log":
        run.ctx.log(data[0])
    elif kind == "start":
        started[pid] = data[0]
    elif kind == "report":
        raw_name, report, unreachable = data
        run.reports[raw_name] = report
        started.pop(pid, None)
        if unreachable:
            run.unreachable.add(report.folder)
    elif kind == "halt":
        run.halt_reason = run.halt_reason or data[0]
        run.halt.set()
        stop.set()
    elif kind == "fatal":
        from mail import errors

        run.fatal = run.fatal or getattr(errors, data[0], errors.PermanentError)(data[1])
        stop.set()


def _bury(run, children, started: dict, folders: dict) -> None:
    """A child that died (killed, out of memory) fails the folder it had; the rest goes on."""
    from jobs.engine.backup.report import FolderReport

    for child in children:
        if child.is_alive() or child.exitcode == 0 or child.pid not in started:
            continue
        raw_name = started.pop(child.pid)
        name = folders[raw_name].name if raw_name in folders else raw_name
        error = f"the worker process died (exit code {child.exitcode})"
        run.reports[raw_name] = FolderReport(name, "failed", error=error)


def child_main(config, account_pk, options, todo, events, stop, parent_pid) -> None:
    """One worker process: set up Django on the parent's database, then take folders."""
    os.environ["DJANGO_SETTINGS_MODULE"] = config["settings_module"]
    import django
    from django.conf import settings

    # Before setup, so nothing can have opened a connection with other settings (the tests'
    # database has another name than the settings module says).
    settings.DATABASES["default"] = config["databases"]["default"]
    settings.ARCHIVE_ROOT = config["archive_root"]
    settings.ARCHIVE_URL = config["archive_url"]
    settings.ARCHIVE_S3 = config["archive_s3"]
    django.setup()
    from accounts.models import Account

    module, _, name = config["run_class"].partition(":")
    run_class = getattr(importlib.import_module(module), name)
    pid = os.getpid()
    run = run_class(
        Account.objects.get(pk=account_pk),
        options,
        progress=lambda p: events.put(("progress", pid, p)),
        should_stop=lambda: stop.is_set() or os.getppid() != parent_pid,
        log=lambda m: events.put(("log", pid, m)),
    )
    _work(run, todo, events, pid)


def _work(run, todo, events, pid: int) -> None:
    holder: dict = {"conn": None}
    try:
        while not run.halt.is_set():
            server = _next_folder(todo, run.ctx.should_stop)
            if server is None:
                return
            events.put(("start", pid, server.raw_name))
            report = run.backup_folder(server, holder)
            unreachable = report.folder in run.unreachable
            events.put(("report", pid, server.raw_name, report, unreachable))
            if run.fatal is not None:
                events.put(("fatal", pid, type(run.fatal).__name__, str(run.fatal)))
                return
    finally:
        if run.halt_reason:
            events.put(("halt", pid, run.halt_reason))
        try:
            if holder["conn"] is not None:
                holder["conn"].logout()
        finally:
            events.put(("exit", pid))
