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


def header_section(raw: bytes) -> bytes:
    """The header part of a whole message (up to the first empty line)."""
    found = (raw.find(sep, 0, MAX_HEADER) for sep in (b"\r\n\r\n", b"\n\n", b"\n\r\n"))
    ends = [i for i in found if i >= 0]
    return raw[: min(ends)] if ends else raw[:MAX_HEADER]


_FIELD = re.compile(
    rb"^(message-id|date|from|to|cc|subject)[ \t]*:(.*(?:\r?\n[ \t].*)*)", re.I | re.M
)


def stable_fields(header: bytes) -> dict[str, bytes]:
    """The first occurrence of each stable field, unfolded and with whitespace collapsed."""
    found: dict[str, bytes] = {}
    for match in _FIELD.finditer(header):
        name = match.group(1).decode("ascii").lower()
        if name not in found:
            found[name] = _SPACE.sub(b" ", match.group(2)).strip()
    return found


def fingerprint(header: bytes, size: int | None) -> str:
    """32 hex digits naming the message: Message-ID and size, or stable headers and size.

    size=None gives the loose form (headers only): how a copy is still recognised when the
    destination rewrote line endings on APPEND and so changed the size."""
    return _from_fields(stable_fields(header), size)


def _from_fields(fields: dict[str, bytes], size: int | None) -> str:
    message_id = fields.get("message-id", b"").strip(b"<> ")
    if message_id:
        basis = b"id\0" + message_id
    else:
        basis = b"hd\0" + b"\0".join(fields.get(k, b"") for k in STABLE_FIELDS[1:])
    sized = b"" if size is None else b"\0" + str(int(size)).encode()
    return hashlib.sha256(basis + sized).hexdigest()[:32]


def of_message(raw: bytes, size: int | None = None) -> str:
    """The fingerprint of a whole message (size: what the server reports, else the length)."""
    return fingerprint(header_section(raw), len(raw) if size is None else size)


def both_of_message(raw: bytes, size: int) -> tuple[str, str]:
    """(fingerprint, loose fingerprint) of a whole message, reading its headers once."""
    header = header_section(raw)
    fields = stable_fields(header)
    return _from_fields(fields, size), _from_fields(fields, None)
