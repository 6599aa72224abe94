"""What the backup records for the browser as it stores messages: search text and references.

`prepare()` does the slow part (reading the MIME structure, decoding text) before the ingest
transaction starts, so no database lock is held while parsing; `Prepared.record()` then writes
the search index rows and conversation references inside that transaction, right after the
Message rows exist, so a message is searchable exactly when it is archived.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from archive.mime import TooComplex, header_text, parse_email, part_filename, walk
from archive.mime import decode_part_text as _decode_part_text
from archive.parsing import ParsedHeaders, parse_message
from archive.viewer import html_to_text

MAX_BODY_CHARS = 1_000_000  # SECURITY.md: text indexed ~1 MB per message
# The email package holds about eight copies of what it parses (measured: 465 MB for a 54 MB
# message); above this size only the headers are indexed, so a backup's memory stays bounded.
MAX_PARSE_BYTES = 8 * 1024 * 1024
MAX_REFS = 50
MAX_REF_CHARS = 255
_MSGID = re.compile(r"<([^<>\s]{1,250})>")


@dataclass
class Document:
    subject: str = ""
    body: str = ""
    from_addr: str = ""
    to_addrs: str = ""
    cc_addrs: str = ""
    attachments: str = ""
    refs: list[str] = field(default_factory=list)


def document_for(raw: bytes, headers: ParsedHeaders | None = None) -> Document:
    """The searchable text of one message. Never raises; past a parsing cap, headers only.

    `headers`: parse_message(raw) when the caller already has it (ingest does: parse once)."""
    headers = headers or parse_message(raw)
    doc = Document(
        subject=headers.subject,
        from_addr=headers.from_addr,
        to_addrs=headers.to_addrs,
        cc_addrs=headers.cc_addrs,
    )
    if len(raw) > MAX_PARSE_BYTES:
        return doc
    try:
        msg = parse_email(raw, headers)
    except TooComplex:
        return doc
    except Exception:  # noqa: BLE001 - indexing must never fail a backup
        return doc
    try:
        _fill_body(doc, msg)
        doc.refs = references(msg)
    except Exception:  # noqa: BLE001
        pass
    return doc


def _fill_body(doc: Document, msg) -> None:
    texts: list[str] = []
    htmls: list[str] = []
    names: list[str] = []
    size = 0
    for part in walk(msg):
        if part.get_content_maintype() == "multipart":
            continue
        name = part_filename(part)
        if name:
            names.append(name)
        ctype = part.get_content_type()
        if name or not ctype.startswith("text/") or size >= MAX_BODY_CHARS:
            continue
        text = _decode_part_text(part, [], 0, MAX_BODY_CHARS)
        (htmls if ctype == "text/html" else texts).append(text)
        size += len(text)
    body = "\n".join(texts) if texts else "\n".join(html_to_text(h) for h in htmls)
    doc.body = body[:MAX_BODY_CHARS]
    doc.attachments = " ".join(names)[:10_000]


def references(msg) -> list[str]:
    """The Message-IDs a message points at: In-Reply-To first, then References."""
    found: list[str] = []
    for name in ("in-reply-to", "references"):
        for key, value in msg.raw_items():
            if key.lower() == name:
                found.extend(f"<{m}>" for m in _MSGID.findall(header_text(value)))
    return list(dict.fromkeys(r[:MAX_REF_CHARS] for r in found))[:MAX_REFS]


class Prepared:
    """Documents for a batch of fetched messages, keyed by the FetchedMessage object."""

    def __init__(self, fetched: Sequence, docs: Sequence[Document]):
        self._docs = {id(f): d for f, d in zip(fetched, docs, strict=True)}

    def record(self, created: Iterable) -> None:
        """Index the new Message rows and record their references (inside the transaction)."""
        from archive import search, threads

        pairs = [(m, self._docs[id(m._fetched)]) for m in created if id(m._fetched) in self._docs]
        if not pairs:
            return
        search.index_documents(pairs)
        threads.record_references(pairs)


def prepare(fetched: Sequence, parsed: Sequence[ParsedHeaders] | None = None) -> Prepared:
    headers = parsed if parsed is not None else [None] * len(fetched)
    return Prepared(
        fetched, [document_for(f.raw, h) for f, h in zip(fetched, headers, strict=True)]
    )
