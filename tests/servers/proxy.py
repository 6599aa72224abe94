"""TCP proxies between the engine and the test Dovecot that break connections on purpose: as a
flaky network would (`DroppingProxy`), or as a server that crashes on one message would
(`PoisonProxy`)."""

from __future__ import annotations

import socket
import threading


class TcpProxy:
    """Forwards TCP connections from a local port to `port`; `relay` starts the two pumps of each
    connection. Counts the connections accepted and the ones cut."""

    def __init__(self, port: int):
        self.target = port
        self.connections = 0
        self.dropped = 0
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            self.relay(client, socket.create_connection(("127.0.0.1", self.target)))

    def relay(self, client: socket.socket, server: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.listener.close()


def pump_in_thread(target, *args) -> None:
    threading.Thread(target=target, args=args, daemon=True).start()


def close_both(a: socket.socket, b: socket.socket) -> None:
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()


class DroppingProxy(TcpProxy):
    """The first `drops` connections that carry more than `after` bytes from the server are cut
    mid-stream."""

    def __init__(self, port: int, after: int, drops: int):
        self.after, self.drops = after, drops
        super().__init__(port)

    def relay(self, client: socket.socket, server: socket.socket) -> None:
        pump_in_thread(self._pump, client, server, None)
        limit = self.after if self.dropped < self.drops else None
        pump_in_thread(self._pump, server, client, limit)

    def _pump(self, src: socket.socket, dst: socket.socket, limit: int | None) -> None:
        sent = 0
        try:
            while data := src.recv(65536):
                dst.sendall(data)
                sent += len(data)
                if limit is not None and sent > limit:
                    self.dropped += 1
                    break
        except OSError:
            pass
        close_both(src, dst)


class PoisonProxy(TcpProxy):
    """A connection whose server->client stream contains `marker` is closed at once, before the
    chunk holding the marker reaches the client, so the FETCH that asked for that message never
    completes. With `stall`, the connection is left open and silent instead, until the client
    gives up (its read timeout). `drops` caps how many connections are cut (None: every time)."""

    def __init__(self, port: int, marker: bytes, drops: int | None = None, stall: bool = False):
        self.marker, self.drops, self.stall = marker, drops, stall
        super().__init__(port)

    def relay(self, client: socket.socket, server: socket.socket) -> None:
        pump_in_thread(self._pump, client, server, False)
        pump_in_thread(self._pump, server, client, True)

    def _cut_now(self, seen: bytes) -> bool:
        if self.marker not in seen:
            return False
        with self.lock:
            if self.drops is not None and self.dropped >= self.drops:
                return False
            self.dropped += 1
            return True

    def _pump(self, src: socket.socket, dst: socket.socket, watch: bool) -> None:
        tail = b""  # the marker may straddle two reads
        try:
            while data := src.recv(65536):
                if watch:
                    seen, tail = tail + data, (tail + data)[-len(self.marker) :]
                    if self._cut_now(seen):
                        if self.stall:
                            return  # the other pump closes both when the client hangs up
                        break
                dst.sendall(data)
        except OSError:
            pass
        close_both(src, dst)
