"""The POP3 commands a backup and a verify use: UIDL, LIST sizes, and a RETR that keeps bytes exact.

A backup never sends DELE; nothing here can.
"""

from __future__ import annotations

import poplib

from mail import errors

MAX_LINE = 1 << 20  # one line of a message; poplib's own 2,048-byte cap breaks real mail


def uidl(client: poplib.POP3) -> dict[str, int]:
    try:
        _resp, lines, _ = client.uidl()
    except poplib.error_proto as exc:
        raise errors.UnexpectedReply(
            f"The POP3 server does not support UIDL ({exc}); it cannot be backed up safely."
        ) from None
    server: dict[str, int] = {}
    for line in lines:
        number, _, uidl = line.decode("ascii", "replace").partition(" ")
        server.setdefault(uidl.strip(), int(number))
    return server


def sizes(client: poplib.POP3) -> dict[int, int]:
    _resp, lines, _ = client.list()
    sizes = {}
    for line in lines:
        number, _, size = line.decode("ascii", "replace").partition(" ")
        sizes[int(number)] = int(size.split()[0]) if size.strip() else 0
    return sizes


def retr(client: poplib.POP3, number: int, size: int) -> bytes:
    """RETR with our own reader: exact line endings, dot-unstuffed, bounded in size."""
    client._putcmd(f"RETR {number}")  # poplib's own retr() reads lines with a 2,048-byte cap
    try:
        client._getresp()
    except poplib.error_proto as exc:
        if exc.args and exc.args[0] in ("-ERR EOF", b"-ERR EOF"):  # poplib's "connection closed"
            raise EOFError("the POP3 server closed the connection") from None
        raise
    limit = max(size * 2, 1 << 20) + 65536
    parts: list[bytes] = []
    total = 0
    while True:
        line = client.file.readline(MAX_LINE)
        if not line:
            raise EOFError("the POP3 server closed the connection mid-message")
        if line in (b".\r\n", b".\n"):
            return b"".join(parts)
        if line.startswith(b".."):
            line = line[1:]
        parts.append(line)
        total += len(line)
        if total > limit:
            raise poplib.error_proto(b"-ERR message longer than announced")
