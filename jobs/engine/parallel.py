"""Folders in parallel: a few threads, each with its own connection, take folders from one queue.

Shared by backup and sync. Each worker keeps its connection from one folder to the next (a login
costs a round trip or three), so the pool runs `workers` long-lived callables that drain the
queue rather than one task per folder.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

# Threads whose name starts with this hold no lock across os.fork(): they pause while a process
# forks (jobs.progress's flusher takes FORK_GATE around its work). Backup worker processes are
# forked only when every other thread of the process is such a thread.
FORK_SAFE_PREFIX = "forksafe-"
FORK_GATE = threading.Lock()


def _child_after_fork() -> None:
    FORK_GATE.release()  # held by the forking thread, which is the child's only thread


os.register_at_fork(
    before=FORK_GATE.acquire, after_in_parent=FORK_GATE.release, after_in_child=_child_after_fork
)


def fork_is_safe() -> bool:
    """Whether a child forked now cannot inherit a lock some other thread holds."""
    current = threading.current_thread()
    return all(t is current or t.name.startswith(FORK_SAFE_PREFIX) for t in threading.enumerate())


def drain(worker: Callable[[queue.Queue], None], work: Iterable, workers: int, name: str) -> None:
    """Put `work` in a queue and run `workers` copies of `worker(queue)` until it is empty."""
    todo: queue.Queue = queue.Queue()
    for item in work:
        todo.put(item)
    count = min(workers, todo.qsize())
    if count < 1:
        return
    with ThreadPoolExecutor(max_workers=count, thread_name_prefix=name) as pool:
        for future in [pool.submit(worker, todo) for _ in range(count)]:
            future.result()  # a worker's unexpected error is the run's, not lost in a thread
