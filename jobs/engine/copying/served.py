"""After a copy: are the bytes the destination serves the bytes that were sent?

A fingerprint (Message-ID and size) recognises a message but misses a server that changes it:
Cyrus replaces 8-bit header bytes with `X` on APPEND and keeps the size. So the UIDs a server
gave this run's APPENDs (APPENDUID) are fetched back (BODY.PEEK[]) and their sha256 compared with
the sha256 of what was sent. Rewrites every server may do and that change no content (line
endings stored as CRLF, a NUL served as 0x80) are not reported; anything else is, by message.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

from jobs.engine.batching import batches_by_bytes
from jobs.engine.copying import fingerprint
from jobs.engine.copying.destination import Destination

NAME_CHARS = 80  # of a subject, in a report


@dataclass(frozen=True)
class Sent:
    """What was APPENDed, remembered without its bytes."""

    key: int  # the caller's id (a source UID, an archive row id)
    size: int
    sha256: bytes  # digests, not hex: one of these is kept per message copied in a folder
    loose: bytes  # sha256 after the rewrites that change no content
    name: str  # how a report names it (see name_of)

    @classmethod
    def of(cls, key: int, raw: bytes) -> Sent:
        return cls(key, len(raw), hashlib.sha256(raw).digest(), _loose(raw), name_of(raw))


def _loose(raw: bytes) -> bytes:
    return hashlib.sha256(raw.replace(b"\r", b"").replace(b"\0", b"\x80")).digest()


def unchanged(sent: Sent, served: bytes) -> bool:
    return hashlib.sha256(served).digest() == sent.sha256 or _loose(served) == sent.loose


def served_back(
    dest: Destination, raw_name: str, sent: dict[int, Sent], batch_bytes: int
) -> Iterator[tuple[int, bytes]]:
    """(destination UID, bytes served) for each of these UIDs still in the folder."""
    dest.session.examine(raw_name)
    sizes = {uid: s.size for uid, s in sent.items()}
    for batch in batches_by_bytes(sizes, batch_bytes):
        for fetched in dest.session.fetch_bodies(batch):
            yield fetched.uid, fetched.raw


def name_of(raw: bytes) -> str:
    """How a report names a message: its subject, else its Message-ID, as sent."""
    fields = fingerprint.stable_fields(fingerprint.header_section(raw))
    subject = fields.get("subject", b"").decode("utf-8", errors="replace")[:NAME_CHARS]
    if subject:
        return f"“{subject}”"
    return fields.get("message-id", b"").decode("ascii", errors="replace")[:NAME_CHARS] or "?"


def has_8bit_header(raw: bytes) -> bool:
    return any(b > 0x7F for b in fingerprint.header_section(raw))
