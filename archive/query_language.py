"""The search box's query language: operators such as from:, before: or -word, into a SearchQuery.

`parse()` reads what a user typed: plain words and "quoted phrases" (all must match), `a OR b`,
`-word` (must not match) and the operators of OPERATORS_HELP. An unknown `word:` stays a plain
word; a bad date or size raises QueryError with a message for the page.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from archive.search import SearchQuery

_TOKEN = re.compile(r'(-?)(?:([A-Za-z]+):)?("[^"]*"?|\S+)')
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmg]?)b?", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
_MAX_SIZE = 2**53  # bytes; a database integer holds it
_TEXT_FIELDS = {
    "from": "from_addr",
    "to": "to_addrs",
    "cc": "cc_addrs",
    "subject": "subject",
    "filename": "attachments",
    "body": "body",
}
_FLAGS = {"flagged": "\\Flagged", "read": "\\Seen", "answered": "\\Answered", "draft": "\\Draft"}
_IS = {"deleted": ("deleted", True), "unread": ("flag", "-\\Seen")}
_IS |= {word: ("flag", flag) for word, flag in _FLAGS.items()}
_IS_NOT = {"deleted": ("deleted", False), "unread": ("flag", "\\Seen")}
_IS_NOT |= {word: ("flag", f"-{flag}") for word, flag in _FLAGS.items()}

OPERATORS_HELP = [
    ("from:barry@python.org", "sender (also to:, cc:, subject:, body:)"),
    ("filename:report.pdf", "attachment name"),
    ("has:attachment", "messages with attachments"),
    ("folder:INBOX account:work", "one folder, one account (by name)"),
    ("after:2024-01-05 before:2024-02-01", "dates: on or after, before"),
    ("larger:5M smaller:100K", "sizes (K, M, G)"),
    ("is:deleted", "deleted on the server"),
    ("is:flagged", "flagged (also is:read, is:unread, is:answered, is:draft)"),
    ('"exact phrase"', "words in this order"),
    ("-word", "without this word (also -is:, -has:)"),
    ("budget OR invoice", "either word"),
]


class QueryError(ValueError):
    """What is wrong with a query, in words for the search page."""


def parse(text: str) -> SearchQuery:
    """The SearchQuery for what was typed in the search box."""
    q = SearchQuery()
    groups: list[list[str]] = []
    pending_or = False
    for neg, key, value in _TOKEN.findall(text or ""):
        word = _word(key, value)
        if not neg and not key and value == "OR":
            pending_or = bool(groups)
        elif key and key.lower() in _KNOWN and _apply(q, key.lower(), value, bool(neg)):
            pending_or = False
        elif neg:
            q.excluded = f"{q.excluded} {word}".strip()
        else:
            if pending_or:
                groups[-1].append(word)
            else:
                groups.append([word])
            pending_or = False
    q.words = " ".join(g[0] for g in groups if len(g) == 1)
    q.any_of = [" ".join(g) for g in groups if len(g) > 1]
    if q.excluded and q.empty:
        raise QueryError("A -word needs a word to search for too.")
    return q


def _word(key: str, value: str) -> str:
    if value.startswith('"'):
        value = '"' + value.strip('"') + '"'
    return f"{key}:{value}" if key else value


def _apply(q: SearchQuery, key: str, value: str, neg: bool) -> bool:
    """Apply one operator to q; False: not an operator after all (a plain word)."""
    plain = value.strip('"')
    if key in ("is", "has"):
        table = (_IS_NOT if neg else _IS) if key == "is" else {}
        if key == "has" and plain.lower() in ("attachment", "attachments"):
            table = {plain.lower(): ("has_attachment", not neg)}
        if plain.lower() not in table:
            return False
        name, setting = table[plain.lower()]
        setattr(q, name, setting)
        return True
    if neg:
        raise QueryError(f"Only words, is: and has: can be excluded with -, not {key}:.")
    _SETTERS[key](q, key, value, plain)
    return True


def _text(q: SearchQuery, key: str, value: str, plain: str) -> None:
    name = _TEXT_FIELDS[key]
    setattr(q, name, f"{getattr(q, name)} {_word('', value)}".strip())


def _place(q: SearchQuery, key: str, value: str, plain: str) -> None:
    setattr(q, f"{key}_name", plain)


def _date(q: SearchQuery, key: str, value: str, plain: str) -> None:
    try:
        day = date.fromisoformat(plain)
    except ValueError:
        raise QueryError(f"{key}:{plain} is not a date: write it as 2024-01-31.") from None
    if key == "after":
        q.date_from = day
    elif day > date.min:
        q.date_to = day - timedelta(days=1)
    else:
        raise QueryError(f"Nothing is dated before:{plain}.")


def _size(q: SearchQuery, key: str, value: str, plain: str) -> None:
    m = _SIZE.fullmatch(plain)
    if not m or float(m.group(1)) * _UNITS[m.group(2).lower()] > _MAX_SIZE:
        raise QueryError(f"{key}:{plain} is not a size: write it as 500K, 5M or 1G.")
    size = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    if key == "larger":
        q.size_min = size
    else:
        q.size_max = size


_SETTERS = {
    **dict.fromkeys(_TEXT_FIELDS, _text),
    "folder": _place,
    "account": _place,
    "before": _date,
    "after": _date,
    "larger": _size,
    "smaller": _size,
}
_KNOWN = {*_SETTERS, "is", "has"}
