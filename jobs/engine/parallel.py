"""Folders in parallel: a few threads, each with its own connection, take folders from one queue.

Shared by backup and sync. Each worker keeps its connection from one folder to the next (a login
costs a round trip or three), so the pool runs `workers` long-lived callables that drain the
queue rather than one task per folder.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor


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
