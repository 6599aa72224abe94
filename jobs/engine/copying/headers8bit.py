"""Encode raw 8-bit header bytes as RFC 2047 encoded-words: only when the admin asks for it.

A sync or restore sends every message byte for byte. Some servers do not keep 8-bit bytes in a
header (Cyrus turns each into `X`), which the copy check reports. With the job option "encode
8-bit headers" the header fields holding such bytes are rewritten before the APPEND: each
whitespace-separated word with 8-bit bytes becomes `=?UTF-8?B?...?=` (bytes that are not UTF-8
are read as Latin-1), so the destination keeps the text readable. The body is never touched,
and a message without 8-bit header bytes is sent unchanged.
"""

from __future__ import annotations

import base64
import re

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_WORD = re.compile(rb"[^ \t\r\n]*[\x80-\xff][^ \t\r\n]*")


def encode_8bit_headers(raw: bytes) -> bytes:
    """The message with every 8-bit header word as an encoded-word (see the module docstring)."""
    end = _HEADER_END.search(raw)
    cut = end.start() if end else len(raw)
    header = raw[:cut]
    if not any(b > 0x7F for b in header):
        return raw
    return _WORD.sub(_encoded_word, header) + raw[cut:]


def _encoded_word(match: re.Match) -> bytes:
    word = match.group(0)
    try:
        text = word.decode("utf-8")
    except UnicodeDecodeError:
        text = word.decode("latin-1")
    return b"=?UTF-8?B?" + base64.b64encode(text.encode("utf-8")) + b"?="
