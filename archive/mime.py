"""Reading an archived message for display: headers, body parts, attachments, nested messages.

The raw bytes stay the truth (downloads serve them untouched); this module only interprets them.
Python's `email` package does the MIME work, but only after `archive.parsing` (a bounded scanner)
has said the structure is within the caps of SECURITY.md "Parsing limits": past a cap, or when
the parser itself gives up, the view is "too complex to display" and the message stays
downloadable. Nothing here raises on bad input: odd charsets decode with replacement characters
and a note.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message as EmailMessage
from email.policy import compat32

from archive.charsets import codec_for, decode_header_value, decode_text
from archive.parsing import MAX_HEADER_BYTES, ParsedHeaders, parse_message

MAX_DISPLAY_BYTES = 64 * 1024 * 1024  # larger messages are listed and downloadable only
MAX_HTML_CHARS = 2 * 1024 * 1024  # SECURITY.md: nh3 is slow on huge nested HTML
MAX_TEXT_CHARS = 4 * 1024 * 1024  # what the page shows of a plain text part
MAX_NESTED_DEPTH = 10  # message/rfc822 inside message/rfc822 ... opened on demand
# Notes of archive.parsing that mean the structure was not fully read: a cap was hit.
_CAP_NOTES = ("MIME nesting deeper", "MIME parts", "time limit", "header block over")
ACTIVE_TYPES = re.compile(
    r"^(text/html|application/xhtml|image/svg|.*xml|.*javascript|.*ecmascript|text/xsl)", re.I
)


class TooComplex(Exception):
    """The message is past a parsing cap: list and download it, do not render it."""


@dataclass
class Part:
    index: int  # position in this module's walk order: the part's id in URLs
    content_type: str
    filename: str
    size: int
    content_id: str = ""
    is_attachment: bool = False
    is_message: bool = False  # message/rfc822: can be opened as a message

    @property
    def display_name(self) -> str:
        return self.filename or f"part-{self.index}"


@dataclass
class MessageView:
    headers: list[tuple[str, str]] = field(default_factory=list)
    subject: str = ""
    from_addr: str = ""
    to_addrs: str = ""
    cc_addrs: str = ""
    date: str = ""
    text: str | None = None
    html: str | None = None
    parts: list[Part] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    too_complex: bool = False

    @property
    def attachments(self) -> list[Part]:
        return [p for p in self.parts if p.is_attachment]

    def cid_map(self) -> dict[str, int]:
        """Content-ID (without brackets) -> part index, for `cid:` references in the HTML."""
        return {p.content_id: p.index for p in self.parts if p.content_id}


def parse_email(raw: bytes, headers: ParsedHeaders | None = None) -> EmailMessage:
    """The `email` tree of `raw`, or TooComplex when it is past a cap.

    `headers`: parse_message(raw) when the caller already has it (ingest does: parse once)."""
    if len(raw) > MAX_DISPLAY_BYTES:
        raise TooComplex(f"The message is over {MAX_DISPLAY_BYTES // 2**20} MB.")
    headers = headers or parse_message(raw)
    if any(cap in note for note in headers.notes for cap in _CAP_NOTES):
        raise TooComplex(headers.error)
    try:
        return message_from_bytes(raw, policy=compat32)
    except (RecursionError, MemoryError) as e:
        raise TooComplex(f"The parser gave up: {type(e).__name__}.") from None


def walk(msg: EmailMessage) -> list[EmailMessage]:
    """Every part in order, not descending into message/rfc822 (those open as messages)."""
    out: list[EmailMessage] = []
    stack = [msg]
    while stack:
        part = stack.pop()
        out.append(part)
        if part.get_content_maintype() == "multipart" and isinstance(part.get_payload(), list):
            stack.extend(reversed(part.get_payload()))
    return out


def build_view(raw: bytes) -> MessageView:
    """Everything the message page shows. Never raises."""
    view = MessageView()
    try:
        msg = parse_email(raw)
        _fill_headers(view, msg)
        _fill_parts(view, msg)
    except TooComplex as e:
        view.too_complex = True
        view.notes.append(f"Too complex to display: {e}")
        _fill_headers_only(view, raw)
    except Exception as e:  # noqa: BLE001 - a hostile message must never become a 500
        view.too_complex = True
        view.notes.append(f"Too complex to display ({type(e).__name__}); download it instead.")
        _fill_headers_only(view, raw)
    return view


def header_text(value: object) -> str:
    """A raw compat32 header value (str with surrogate-escaped bytes) as display text."""
    if not isinstance(value, str):
        value = str(value)
    data = value.encode("utf-8", "surrogateescape")
    return decode_header_value(re.sub(rb"\r?\n[ \t]*", b" ", data))


def raw_header(msg: EmailMessage, name: str) -> str:
    """The first `name` header as decoded text ("" when absent), from the raw header list."""
    name = name.lower()
    for key, value in msg.raw_items():
        if key.lower() == name:
            return header_text(value)
    return ""


def _fill_headers(view: MessageView, msg: EmailMessage) -> None:
    view.headers = [(str(k), header_text(v)) for k, v in msg.raw_items()]
    first = {}
    for name, value in view.headers:
        first.setdefault(name.lower(), value)
    view.subject = " ".join(first.get("subject", "").split())
    view.from_addr = first.get("from", "")
    view.to_addrs = first.get("to", "")
    view.cc_addrs = first.get("cc", "")
    view.date = first.get("date", "")


def _fill_headers_only(view: MessageView, raw: bytes) -> None:
    """Headers read without the MIME parser (for messages that are too complex)."""
    block = raw[:MAX_HEADER_BYTES]
    end = re.search(rb"\r?\n\r?\n", block)
    block = block[: end.start()] if end else block
    try:
        msg = message_from_bytes(block + b"\n\n", policy=compat32)
        _fill_headers(view, msg)
    except Exception:  # noqa: BLE001
        view.headers = []


def _fill_parts(view: MessageView, msg: EmailMessage) -> None:
    texts: list[str] = []
    for index, part in enumerate(walk(msg)):
        if part.get_content_maintype() == "multipart":
            continue
        info = describe(index, part)
        view.parts.append(info)
        if info.is_attachment:
            continue
        ctype = info.content_type
        if ctype == "text/html" and view.html is None:
            view.html = decode_part_text(part, view.notes, index, MAX_HTML_CHARS + 1)
        elif ctype.startswith("text/") and ctype != "text/html":
            texts.append(decode_part_text(part, view.notes, index, MAX_TEXT_CHARS))
    if texts:
        view.text = "\n\n".join(texts)


def describe(index: int, part: EmailMessage) -> Part:
    ctype = part.get_content_type().lower()
    filename = part_filename(part)
    disposition = (part.get_content_disposition() or "").lower()
    cid = raw_header(part, "Content-ID").strip().strip("<>").strip()
    is_message = ctype == "message/rfc822"
    is_body_text = ctype in ("text/plain", "text/html") and not filename
    is_attachment = (
        disposition == "attachment"
        or is_message
        or (bool(filename) and not cid)
        or not (is_body_text or ctype.startswith("text/") or cid)
    )
    if ctype.startswith("text/") and disposition == "inline" and not filename:
        is_attachment = False
    return Part(
        index=index,
        content_type=ctype,
        filename=filename,
        size=len(payload_bytes(part)),
        content_id=cid,
        is_attachment=is_attachment,
        is_message=is_message,
    )


def part_filename(part: EmailMessage) -> str:
    """The file name a part carries (RFC 2231 or 2047), as text; "" when it has none."""
    try:
        name = part.get_filename() or part.get_param("name")
    except Exception:  # noqa: BLE001 - malformed parameters
        return ""
    if isinstance(name, tuple):  # RFC 2231 (charset, language, value)
        charset, _, value = name
        name = decode_text(value.encode("latin-1", "surrogateescape"), charset or "utf-8")
    if not name:
        return ""
    return " ".join(header_text(name).split())[:255]


def payload_bytes(part: EmailMessage) -> bytes:
    """The decoded content of a leaf part (a nested message's own bytes for message/rfc822)."""
    if part.is_multipart():  # message/rfc822 (its payload is the parsed message)
        inner = part.get_payload()
        if isinstance(inner, list) and inner:
            try:
                return inner[0].as_bytes(policy=compat32)
            except Exception:  # noqa: BLE001
                return b""
        return _raw_payload(part)
    try:
        data = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - broken base64 or uuencode
        data = None
    return data if isinstance(data, bytes) else _raw_payload(part)


def _raw_payload(part: EmailMessage) -> bytes:
    payload = part.get_payload()
    if isinstance(payload, str):
        return payload.encode("ascii", "surrogateescape")
    return b""


def decode_part_text(part: EmailMessage, notes: list[str], index: int, cap: int) -> str:
    """A text part as str; undecodable bytes become U+FFFD and a note says so."""
    data = payload_bytes(part)
    charset = part.get_content_charset() or "utf-8"
    codec = codec_for(charset)
    try:
        text = codecs.decode(data, codec)
    except (UnicodeDecodeError, LookupError):
        text = decode_text(data, charset)
        if "\ufffd" in text:
            notes.append(
                f"Part {index} could not be fully decoded as {charset[:40]}: "
                "characters that could not be read are shown as \ufffd."
            )
    return text[:cap]


def nested_raw(raw: bytes, path: list[int]) -> bytes:
    """The bytes of a nested message/rfc822, following part indices (one per level)."""
    if len(path) > MAX_NESTED_DEPTH:
        raise TooComplex("Nested messages deeper than this are not opened.")
    for index in path:
        part = find_part(parse_email(raw), index)
        if part is None or part.get_content_type() != "message/rfc822":
            raise LookupError("No such nested message.")
        raw = payload_bytes(part)
    return raw


def find_part(msg: EmailMessage, index: int) -> EmailMessage | None:
    parts = walk(msg)
    if 0 <= index < len(parts) and parts[index].get_content_maintype() != "multipart":
        return parts[index]
    return None


def is_active_type(content_type: str) -> bool:
    """Types a browser could run or render as a page: always sent as octet-stream."""
    return bool(ACTIVE_TYPES.match(content_type or ""))
