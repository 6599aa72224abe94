"""Message fingerprints: how a sync or a restore recognises a message already on the destination.

A message keeps its Message-ID and its size when it is copied between servers, but never its UID,
so the fingerprint is the Message-ID together with RFC822.SIZE; a message without a Message-ID
(drafts, some automated mail) gets a hash of its stable headers (Date, From, To, Cc, Subject)
together with the size instead. The same function reads a HEADER.FIELDS answer from a server and
the header section of a full message (a BODY[] or an archived blob), so both sides agree.
"""

from __future__ import annotations

import hashlib
import re

STABLE_FIELDS = ("message-id", "date", "from", "to", "cc", "subject")
# What a FETCH asks for to fingerprint a message without downloading it.
FETCH_ITEM = "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID DATE FROM TO CC SUBJECT)]"
FETCH_KEY = b"BODY[HEADER.FIELDS (MESSAGE-ID DATE FROM TO CC SUBJECT)]"
# Header sections beyond this are not read: a fingerprint needs only the first few fields.
MAX_HEADER = 256 * 1024
_SPACE = re.compile(rb"[ \t\r\n]+")
_END = re.compile(rb"\r?\n\r?\n")


def header_section(raw: bytes) -> bytes:
    """The header part of a whole message (up to the first empty line)."""
    head = raw[:MAX_HEADER]
    end = _END.search(head)
    return head[: end.start()] if end else head


def stable_fields(header: bytes) -> dict[str, bytes]:
    """The first occurrence of each stable field, unfolded and with whitespace collapsed."""
    found: dict[str, bytes] = {}
    name = ""
    for line in header.splitlines():
        if line[:1] in (b" ", b"\t"):  # a folded continuation of the previous field
            if name and name in found and found[name] is not None:
                found[name] += b" " + line
            continue
        key, colon, value = line.partition(b":")
        name = key.strip().decode("latin-1").lower() if colon else ""
        if name in STABLE_FIELDS and name not in found:
            found[name] = value
        elif name in STABLE_FIELDS:
            name = ""  # a second Subject: is not folded into the first
    return {k: _SPACE.sub(b" ", v).strip() for k, v in found.items()}


def fingerprint(header: bytes, size: int) -> str:
    """32 hex digits naming the message: Message-ID and size, or stable headers and size."""
    fields = stable_fields(header)
    message_id = fields.get("message-id", b"").strip(b"<> ")
    if message_id:
        basis = b"id\0" + message_id
    else:
        basis = b"hd\0" + b"\0".join(fields.get(k, b"") for k in STABLE_FIELDS[1:])
    return hashlib.sha256(basis + b"\0" + str(int(size)).encode()).hexdigest()[:32]


def of_message(raw: bytes, size: int | None = None) -> str:
    """The fingerprint of a whole message (size: what the server reports, else the length)."""
    return fingerprint(header_section(raw), len(raw) if size is None else size)
