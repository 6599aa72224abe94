"""Turning header bytes into text: RFC 2047 encoded words, raw 8-bit bytes and odd charset names.

Everything here returns text and never raises: an unknown charset or broken bytes give
replacement characters, not an exception.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import functools
import re

# Names seen in real mail that Python does not know, or knows as something narrower.
_ALIASES = {
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "ksc5601": "cp949",
    "euc-kr": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cn-gb": "gb18030",
    "big5": "big5hkscs",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "windows-31j": "cp932",
    "iso-2022-jp": "iso2022_jp_ext",
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
    "iso-8859-1": "cp1252",  # mail labelled latin-1 is nearly always Windows-1252
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "unknown-8bit": "utf-8",
    "x-unknown": "utf-8",
    "unknown": "utf-8",
    "default": "utf-8",
    "x-user-defined": "cp1252",
    "utf8": "utf-8",
    "utf-7": "utf-7",
    "x-mac-roman": "mac-roman",
    "macintosh": "mac-roman",
    "tis-620": "cp874",
    "windows-874": "cp874",
}


@functools.lru_cache(maxsize=512)
def codec_for(charset: str | bytes | None) -> str:
    """A Python codec name for a MIME charset label; utf-8 when the label is unknown.

    Cached: the same few labels come back for every message, and codecs.lookup is not free."""
    if isinstance(charset, bytes):
        charset = charset.decode("ascii", "replace")
    name = (charset or "").strip().strip('"').lower()
    name = name.split("*", 1)[0]  # RFC 2231 language suffix: "utf-8*en"
    name = _ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except (LookupError, ValueError):
        return "utf-8"


def decode_text(data: bytes, charset: str | bytes | None) -> str:
    """Bytes to text: the declared charset first, then UTF-8, then Windows-1252."""
    if not data:
        return ""
    codec = codec_for(charset)
    for attempt in dict.fromkeys((codec, "utf-8")):
        try:
            return data.decode(attempt)
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode("cp1252", "replace") if codec == "utf-8" else data.decode(codec, "replace")


_ENCODED_WORD = re.compile(rb"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_SPACE_ONLY = re.compile(rb"^[ \t\r\n]*$")


def _decode_word_payload(encoding: bytes, payload: bytes) -> bytes:
    if encoding in (b"b", b"B"):
        payload = re.sub(rb"[^A-Za-z0-9+/]", b"", payload)
        payload += b"=" * (-len(payload) % 4)
        try:
            return base64.b64decode(payload)
        except (binascii.Error, ValueError):
            return base64.b64decode(payload[: len(payload) // 4 * 4] or b"")
    payload = payload.replace(b"_", b" ")
    return binascii.a2b_qp(payload)


def decode_header_value(value: bytes) -> str:
    """An unfolded header value to text: encoded words decoded, raw bytes guessed.

    Adjacent encoded words in the same charset are joined before decoding, because mailers
    split multi-byte characters across words (common in Japanese and Chinese subjects).
    """
    pieces: list[tuple[bytes, str | None]] = []  # (bytes, charset or None for raw text)
    pos = 0
    for m in _ENCODED_WORD.finditer(value):
        between = value[pos : m.start()]
        previous_was_word = bool(pieces) and pieces[-1][1] is not None
        if between and not (previous_was_word and _SPACE_ONLY.match(between)):
            pieces.append((between, None))
        charset = m.group(1).decode("ascii", "replace").split("*", 1)[0]
        data = _decode_word_payload(m.group(2), m.group(3))
        if pieces and pieces[-1][1] is not None and codec_for(pieces[-1][1]) == codec_for(charset):
            pieces[-1] = (pieces[-1][0] + data, pieces[-1][1])
        else:
            pieces.append((data, charset))
        pos = m.end()
    if pos < len(value):
        pieces.append((value[pos:], None))
    text = "".join(decode_text(data, cs or "utf-8") for data, cs in pieces)
    return printable(text)


def printable(text: str) -> str:
    """`text` with control and other unprintable characters turned into spaces."""
    if text.isprintable():  # nearly always: one pass in C instead of one call per character
        return text
    return "".join(ch if ch.isprintable() or ch == " " else " " for ch in text)
