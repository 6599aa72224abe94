"""A TCP proxy between the engine and the test Dovecot that breaks the connection whenever the
server starts sending one particular message, as a server that crashes on it would."""

from __future__ import annotations

import socket
import threading


class PoisonProxy:
    """Forwards TCP to `port`; a connection whose server->client stream contains `marker` is
    closed at once, before the chunk holding the marker reaches the client, so the FETCH that
    asked for that message never completes. With `stall`, the connection is left open and
    silent instead, until the client gives up (its read timeout). `drops` caps how many
    connections are cut (None: every time). Counts the connections accepted and the ones cut."""

    def __init__(self, port: int, marker: bytes, drops: int | None = None, stall: bool = False):
        self.target, self.marker, self.drops, self.stall = port, marker, drops, stall
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
            server = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

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
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self) -> None:
        self.listener.close()
