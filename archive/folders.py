"""Server folder names: modified UTF-7 (RFC 3501 5.1.3) to display names, and hierarchy."""

from __future__ import annotations

import re

from imapclient import imap_utf7


def decode_folder_name(raw: str | bytes) -> str:
    """The display name of a folder whose wire name is `raw`; never raises.

    A name that is not valid, canonical modified UTF-7 (a stray `&`, or a server sending UTF-8
    after `ENABLE UTF8=ACCEPT`) is shown as the server sent it rather than guessed at. Control
    characters (which modified UTF-7 can smuggle in, `&AAA-` is NUL) become U+FFFD: they have
    no business in a display name and PostgreSQL text cannot hold NUL.
    """
    return _CONTROLS.sub("\ufffd", _decode(raw))


_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")


def _decode(raw: str | bytes) -> str:
    if isinstance(raw, str):
        if not raw.isascii():
            return raw  # already UTF-8 text: UTF8=ACCEPT servers send names that way
        wire = raw.encode("ascii")
    else:
        wire = raw
    text = wire.decode("utf-8", "replace")
    if b"&" not in wire:
        return text
    try:
        decoded = imap_utf7.decode(wire)
        # Only a canonical encoding is trusted: imapclient turns a lone "&" into "+".
        if imap_utf7.encode(decoded) == wire:
            return decoded
    except (UnicodeError, ValueError):
        pass
    return text


def encode_folder_name(name: str) -> str:
    """The modified UTF-7 wire form of a display name (for creating folders on a server)."""
    return imap_utf7.encode(name).decode("ascii")


def folder_path(name: str, delimiter: str) -> list[str]:
    """The hierarchy components of a display name ("A/B/C" with "/" -> ["A", "B", "C"])."""
    if not delimiter:
        return [name]
    return name.split(delimiter)
