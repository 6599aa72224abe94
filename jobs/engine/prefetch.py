"""Overlap two servers' work: read the next batch from the source while the destination is
still storing the current one.

`prefetched(produce, items)` calls `produce(item)` for each item in a reader thread, at most
`depth` results ahead, and yields the results in order. An exception in the reader is raised in
the consumer; when the consumer stops early (an error, a cancel), the reader stops too instead
of blocking on a full queue.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator

_END = object()


def prefetched[T, R](produce: Callable[[T], R], items: Iterable[T], depth: int = 2) -> Iterator[R]:
    results: queue.Queue = queue.Queue(maxsize=depth)
    abort = threading.Event()

    def put(value) -> bool:
        while not abort.is_set():
            try:
                results.put(value, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def reader() -> None:
        try:
            for item in items:
                if abort.is_set() or not put((True, produce(item))):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            put((False, exc))
            return
        put((True, _END))

    thread = threading.Thread(target=reader, name="prefetch", daemon=True)
    thread.start()
    try:
        while True:
            ok, value = results.get()
            if not ok:
                raise value
            if value is _END:
                return
            yield value
    finally:
        abort.set()
        thread.join(timeout=30)


class Behind:
    """The other direction: `work(item)` runs in one background thread, in order, while the
    caller goes on (at most `depth` items queued). An error in `work` is raised by the next
    `put` or by `close`, which waits until everything queued is done."""

    def __init__(self, work: Callable, depth: int = 2, on_exit: Callable[[], None] | None = None):
        self.work, self.on_exit = work, on_exit
        self.items: queue.Queue = queue.Queue(maxsize=depth)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="behind", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            while (item := self.items.get()) is not _END:
                if self.error is None:
                    try:
                        self.work(item)
                    except BaseException as exc:  # noqa: BLE001 - handed to the caller
                        self.error = exc
        finally:
            if self.on_exit is not None:
                self.on_exit()

    def put(self, item) -> None:
        if self.error is not None:
            raise self.error
        self.items.put(item)

    def close(self) -> None:
        """Wait for the queued work; raise its error, if any."""
        self.items.put(_END)
        self.thread.join()
        if self.error is not None:
            raise self.error
