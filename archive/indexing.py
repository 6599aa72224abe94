"""What a message gives the browser: its searchable text and the Message-IDs it refers to.

`document_for()` is the slow part (reading the MIME structure, decoding text); ingest calls it
before its transaction starts, so no database lock is held while parsing, and writes the
documents with `archive.search.index_documents` and `archive.threads.record_references` inside
that transaction, so a message is searchable exactly when it is archived. `manage.py reindex`
and the search snippets read documents the same way.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from archive.charsets import decode_header_value, decode_text
from archive.parsing import Leaf, ParsedHeaders, parse_message
from archive.viewer import html_to_text

MAX_BODY_CHARS = 1_000_000  # SECURITY.md: text indexed ~1 MB per message
# Encoded bytes of one text part read for the index: enough for MAX_BODY_CHARS of text in any
# transfer encoding, and a bound on memory for huge parts.
MAX_PART_BYTES = 4 * MAX_BODY_CHARS
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
    """The searchable text of one message. Never raises.

    Reads the leaf parts the bounded scanner of `archive.parsing` found, decoding only the text
    ones (not the `email` package: it copies the whole message several times over and costs
    about ten times as much, which a backup of a million messages feels).
    `headers`: parse_message(raw) when the caller already has it (ingest does: parse once)."""
    headers = headers or parse_message(raw)
    doc = Document(
        subject=headers.subject,
        from_addr=headers.from_addr,
        to_addrs=headers.to_addrs,
        cc_addrs=headers.cc_addrs,
    )
    try:
        _fill_body(doc, raw, headers.leaves)
        doc.refs = references(headers.reference_values)
    except Exception:  # noqa: BLE001 - indexing must never fail a backup
        pass
    return doc


def _fill_body(doc: Document, raw: bytes, leaves: Sequence[Leaf]) -> None:
    texts: list[str] = []
    htmls: list[str] = []
    names: list[str] = []
    size = 0
    for leaf in leaves:
        if leaf.filename:
            names.append(decode_header_value(leaf.filename[:1000]))
        # RFC 2045: a missing or invalid type is text/plain (so the email package and the viewer).
        ctype = leaf.content_type if b"/" in leaf.content_type else b"text/plain"
        if leaf.is_attachment or not ctype.startswith(b"text/") or size >= MAX_BODY_CHARS:
            continue
        text = leaf_text(raw, leaf)
        (htmls if ctype == b"text/html" else texts).append(text)
        size += len(text)
    body = "\n".join(texts) if texts else "\n".join(html_to_text(h) for h in htmls)
    doc.body = body[:MAX_BODY_CHARS]
    doc.attachments = " ".join(names)[:10_000]


def leaf_text(raw: bytes, leaf: Leaf) -> str:
    """A text part's content decoded (transfer encoding, then charset), at most MAX_PART_BYTES."""
    data = raw[leaf.start : min(leaf.end, leaf.start + MAX_PART_BYTES)]
    if leaf.encoding == b"base64":
        data = _base64(data)
    elif leaf.encoding == b"quoted-printable":
        data = binascii.a2b_qp(data)
    return decode_text(data, leaf.charset or "utf-8")


def _base64(data: bytes) -> bytes:
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:  # not base64 after all (mislabelled text): as the email package does
        return data


def references(values: Sequence[bytes]) -> list[str]:
    """The Message-IDs a message points at: In-Reply-To first, then References."""
    found: list[str] = []
    for value in values:
        found.extend(f"<{m}>" for m in _MSGID.findall(decode_text(value[:20_000], "utf-8")))
    return list(dict.fromkeys(r[:MAX_REF_CHARS] for r in found))[:MAX_REFS]
