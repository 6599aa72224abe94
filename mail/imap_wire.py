"""The raw IMAP command channel and the response parsers the session needs.

IMAPClient's public calls parse every answer with its general tokenizer, which for a backup's
FETCH of sizes and bodies cost about half a second of CPU per 20,000 messages (measured), and
cannot send a command whose answer we read ourselves. So the session sends those commands through
imaplib's command methods underneath IMAPClient. They are private to imaplib (stable since
Python 2.x); this module is the one place that calls them, so a change there is fixed here.
"""

from __future__ import annotations

import imaplib
import re
from collections.abc import Iterable, Iterator

from imapclient import IMAPClient
from imapclient.datetime_util import parse_to_datetime
from imapclient.response_parser import parse_fetch_response


def simple(client: IMAPClient, *args: str) -> tuple[str, list]:
    """Send a command and wait for its tagged answer; untagged lines stay in `untagged`."""
    return client._imap._simple_command(*args)


def uid_fetch(client: IMAPClient, uid_set: str, items: str, *modifiers: str) -> tuple[str, list]:
    """UID FETCH, answered without IMAPClient's parser; the FETCH lines are in `untagged`."""
    imap = client._imap
    tag = imap._command("UID", "FETCH", uid_set, items, *modifiers)
    return imap._command_complete("FETCH", tag)


def untagged(client: IMAPClient, name: str) -> list:
    """Take the untagged answers of one kind (LIST, STATUS, FETCH, ESEARCH, VANISHED)."""
    return client._imap.untagged_responses.pop(name, [])


def new_tag(client: IMAPClient) -> bytes:
    """A fresh tag registered with imaplib, for a command we send and read ourselves."""
    return client._imap._new_tag()


def parse_sequence_set(text: str) -> list[int]:
    uids: list[int] = []
    for part in text.split(","):
        if ":" in part:
            low, high = sorted(int(x) for x in part.split(":"))
            uids.extend(range(low, high + 1))
        elif part:
            uids.append(int(part))
    return uids


def sequence_set(uids: Iterable[int]) -> str:
    """A compact UID set ("1:5,9,12:14") for command lines."""
    ranges: list[str] = []
    ordered = sorted(set(uids))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        ranges.append(str(ordered[i]) if i == j else f"{ordered[i]}:{ordered[j]}")
        i = j + 1
    return ",".join(ranges)


def check(typ: str, data: list, command: str) -> None:
    if typ != "OK":
        detail = line_bytes(data[0]).decode(errors="replace") if data and data[0] else ""
        raise imaplib.IMAP4.error(f"{command} failed: {detail}")


def line_bytes(item) -> bytes:
    if isinstance(item, tuple):
        return item[0]
    return item if isinstance(item, bytes) else str(item).encode()


def clean(items: list) -> list:
    return [item for item in items if item not in (b"", None)]


def chunks3(parsed: list) -> Iterator[tuple]:
    for i in range(0, len(parsed) - 2, 3):
        yield parsed[i], parsed[i + 1], parsed[i + 2]


def text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("ascii", errors="surrogateescape")
    return str(value)


# The usual shape of a body FETCH answer, parsed without imapclient's general (and, for 20,000
# messages, costly) tokenizer; anything else falls back to it.
# "12 (UID 345 RFC822.SIZE 6789)" in either order of the two items.
SIZE_LINE = re.compile(
    rb"^\d+ \((?:UID (?P<uid>\d+) RFC822\.SIZE (?P<size>\d+)"
    rb"|RFC822\.SIZE (?P<size2>\d+) UID (?P<uid2>\d+))\)$"
)
_FAST_PREFIX = re.compile(rb"^\d+ \((?P<items>.*) BODY\[\] \{\d+\}$", re.S)
_FAST_ITEMS = {
    b"UID": re.compile(rb"(?:^| )UID (\d+)"),
    b"FLAGS": re.compile(rb"(?:^| )FLAGS \(([^)]*)\)"),
    b"INTERNALDATE": re.compile(rb'(?:^| )INTERNALDATE "([^"]*)"'),
    b"RFC822.SIZE": re.compile(rb"(?:^| )RFC822.SIZE (\d+)"),
}


def parse_bodies(data: list) -> dict[int, dict]:
    parsed: dict[int, dict] = {}
    slow: list = []
    i = 0
    while i < len(data):
        item = data[i]
        tail = data[i + 1] if i + 1 < len(data) else None
        fast = fast_body(item) if tail == b")" else None
        if fast is not None:
            parsed[fast[b"UID"]] = fast
            i += 2
            continue
        slow.append(item)
        i += 1
    if slow:
        for uid, values in parse_fetch_response(slow, False, True).items():
            parsed.setdefault(uid, {}).update(values)
    return parsed


def fast_body(item) -> dict | None:
    if not isinstance(item, tuple):
        return None
    match = _FAST_PREFIX.match(item[0])
    if match is None:
        return None
    items = match.group("items")
    found = {key: pattern.search(items) for key, pattern in _FAST_ITEMS.items()}
    if any(m is None for m in found.values()) or b"X-GM-" in items:
        return None
    try:
        when = parse_to_datetime(found[b"INTERNALDATE"].group(1), normalise=False)
    except ValueError:
        when = None
    return {
        b"UID": int(found[b"UID"].group(1)),
        b"FLAGS": tuple(found[b"FLAGS"].group(1).split()),
        b"INTERNALDATE": when,
        b"RFC822.SIZE": int(found[b"RFC822.SIZE"].group(1)),
        b"BODY[]": item[1],
    }


def vanished_uids(lines: list) -> list[int]:
    uids: list[int] = []
    for line in lines:
        words = line_bytes(line).decode().split()
        if words:
            uids.extend(parse_sequence_set(words[-1]))
    return uids
