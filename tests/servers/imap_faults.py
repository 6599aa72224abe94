"""An IMAP proxy in front of the test Dovecot that answers like Courier or Cyrus where they differ.

Debian's Courier and Cyrus packages conflict with Dovecot's, so the tests put this proxy in
front of a Dovecot laid out like them (`INBOX.` prefix, `.` separator, no LITERAL+): it reads the
client's commands (lines and the literals after them) and

- refuses an APPEND into the mailbox the connection has open with EXAMINE, as Courier does
  ("NO Current box is selected READ-ONLY");
- refuses CREATE of chosen names, as a server with stricter name rules does;
- replaces every 8-bit byte in the header of an APPENDed message with `X`, keeping its size,
  as Cyrus does;
- with `objectid`, advertises OBJECTID (RFC 8474) and tells the MAILBOXID of each folder a
  SELECT or EXAMINE opens, as Cyrus does: `M<UIDVALIDITY>` (Dovecot keeps a folder's
  UIDVALIDITY through a rename and gives each folder of a user its own).

Everything else passes through unchanged. It understands enough of the protocol for imapclient
and imaplib: quoted or atom mailbox names, synchronising and non-synchronising literals. (It
assumes the server answers a synchronising literal with `+`: a server refusing an APPEND before
its literal, as for a message over its size limit, is not a case for this proxy.)
"""

from __future__ import annotations

import re
import socket
import threading

from tests.servers.proxy import TcpProxy, close_both, pump_in_thread

READ_ONLY = b"NO Current box is selected READ-ONLY"
REFUSED_NAME = b"NO [CANNOT] Invalid mailbox name"
_LITERAL = re.compile(rb"\{(\d+)(\+?)\}\r\n$")
_UIDVALIDITY = re.compile(rb"\* OK \[UIDVALIDITY (\d+)\]")


class ImapFaultProxy(TcpProxy):
    def __init__(
        self,
        port: int,
        *,
        refuse_append_when_examined: bool = True,
        refuse_create: tuple[str, ...] = (),
        rewrite_8bit_headers: bool = False,
        objectid: bool = False,
    ):
        self.objectid = objectid
        self.refuse_append_when_examined = refuse_append_when_examined
        self.refuse_create = {name.encode() for name in refuse_create}
        self.rewrite_8bit_headers = rewrite_8bit_headers
        self.refused: list[bytes] = []  # the command lines answered NO by the proxy
        super().__init__(port)

    def relay(self, client: socket.socket, server: socket.socket) -> None:
        conn = _Connection(self, client, server)
        pump_in_thread(conn.from_server)
        pump_in_thread(conn.from_client)


class _Connection:
    def __init__(self, proxy: ImapFaultProxy, client: socket.socket, server: socket.socket):
        self.proxy, self.client, self.server = proxy, client, server
        self.lock = threading.Lock()  # the proxy's own answers never split a server line
        self.buffer = b""
        self.selected: tuple[bytes, bool] | None = None  # (mailbox, read-only)

    def from_server(self) -> None:
        try:
            if self.proxy.objectid:
                self._server_lines()
            else:
                while data := self.server.recv(65536):
                    with self.lock:
                        self.client.sendall(data)
        except OSError:
            pass
        close_both(self.server, self.client)

    def _server_lines(self) -> None:
        """Line by line (literals passed through as they are), adding OBJECTID's parts."""
        reader = self.server.makefile("rb")
        while line := reader.readline():
            extra = b""
            if b"CAPABILITY " in line[:40].upper():
                line = _with_objectid(line)
            elif match := _UIDVALIDITY.match(line):
                extra = b"* OK [MAILBOXID (M" + match.group(1) + b")] Ok\r\n"
            if literal := _LITERAL.search(line):
                line += reader.read(int(literal.group(1)))
            with self.lock:
                self.client.sendall(line + extra)

    def from_client(self) -> None:
        try:
            while (line := self._line()) is not None:
                self._command(line)
        except OSError:
            pass
        close_both(self.client, self.server)

    # -- reading the client's stream ----------------------------------------------------------

    def _line(self) -> bytes | None:
        while b"\r\n" not in self.buffer:
            data = self.client.recv(65536)
            if not data:
                return None
            self.buffer += data
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line + b"\r\n"

    def _exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            data = self.client.recv(65536)
            if not data:
                raise OSError("client closed mid-literal")
            self.buffer += data
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    # -- one command ---------------------------------------------------------------------------

    def _command(self, line: bytes) -> None:
        words = line.split(b" ", 2)
        tag = words[0]
        verb = words[1].upper().strip() if len(words) > 1 else b""
        name = _mailbox(words[2]) if len(words) > 2 else b""
        if verb in (b"SELECT", b"EXAMINE"):
            self.selected = (name, verb == b"EXAMINE")
        elif verb in (b"CLOSE", b"UNSELECT"):
            self.selected = None
        refusal = self._refusal(verb, name)
        if refusal:
            self.proxy.refused.append(line.strip())
            self._discard_literals(line)
            with self.lock:
                self.client.sendall(tag + b" " + refusal + b"\r\n")
            return
        self._forward(line, rewrite=verb == b"APPEND" and self.proxy.rewrite_8bit_headers)

    def _refusal(self, verb: bytes, name: bytes) -> bytes:
        proxy = self.proxy
        if verb == b"CREATE" and name in proxy.refuse_create:
            return REFUSED_NAME
        if (
            verb == b"APPEND"
            and proxy.refuse_append_when_examined
            and self.selected == (name, True)
        ):
            return READ_ONLY
        return b""

    def _forward(self, line: bytes, rewrite: bool) -> None:
        while True:
            self.server.sendall(line)
            match = _LITERAL.search(line)
            if not match:
                return
            literal = self._exactly(int(match.group(1)))
            self.server.sendall(_x_8bit_header(literal) if rewrite else literal)
            line = self._line() or b""

    def _discard_literals(self, line: bytes) -> None:
        """A non-synchronising literal follows its line at once: read it so it is not taken
        for a command (a synchronising one is never sent, the client waits for `+`)."""
        while (match := _LITERAL.search(line)) and match.group(2):
            self._exactly(int(match.group(1)))
            line = self._line() or b""


def _with_objectid(line: bytes) -> bytes:
    """A CAPABILITY answer (untagged, or a response code) with OBJECTID added."""
    end = line.find(b"]") if b"[CAPABILITY" in line.upper() else -1
    if end < 0:
        return line.rstrip(b"\r\n") + b" OBJECTID\r\n"
    return line[:end] + b" OBJECTID" + line[end:]


def _mailbox(args: bytes) -> bytes:
    """The first argument of a command: a quoted string (unescaped) or an atom."""
    args = args.rstrip(b"\r\n")
    if not args.startswith(b'"'):
        return args.split(b" ", 1)[0]
    out, i = bytearray(), 1
    while i < len(args) and args[i : i + 1] != b'"':
        if args[i : i + 1] == b"\\":
            i += 1
        out += args[i : i + 1]
        i += 1
    return bytes(out)


def _x_8bit_header(message: bytes) -> bytes:
    """Every byte over 0x7f in the header section becomes `X`; the size stays the same."""
    end = message.find(b"\r\n\r\n")
    end = len(message) if end < 0 else end
    header = bytes(b if b < 0x80 else ord("X") for b in message[:end])
    return header + message[end:]
