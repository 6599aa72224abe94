"""The IMAP session of a backup, a sync source and a verify: read-only, over IMAPClient.

Everything here speaks the protocol and nothing else: list folders (with delimiter, special-use
and, where the server has LIST-STATUS, the status of every folder in one round trip), EXAMINE,
UID SEARCH with a date range, fetch sizes, then bodies with BODY.PEEK[] (never BODY[], which
would set \\Seen), flag changes via CHANGEDSINCE and expunges via VANISHED (RFC 7162).
Storing what was fetched is the backup engine's job (`jobs/engine/backup/folder.py`).
"""

from __future__ import annotations

import datetime as dt
import imaplib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError
from imapclient.imap_utf7 import decode as decode_utf7
from imapclient.response_parser import parse_fetch_response, parse_response

from mail import imap_wire as wire

# A literal larger than this is refused before it is read: a hostile `{99999999999}` must not
# make us allocate it (SECURITY.md). Real messages are far smaller.
MAX_LITERAL = 1 << 30
# UIDs per command line: keeps command lines short even for sparse UID sets.
UIDS_PER_COMMAND = 2000
SPECIAL_USE = ("\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash")
# Folder attributes some servers (and XLIST) use instead of RFC 6154 special-use.
SPECIAL_USE_ALIASES = {"\\Spam": "\\Junk", "\\AllMail": "\\All", "\\Inbox": ""}


@dataclass(frozen=True)
class FolderStatus:
    messages: int
    uidnext: int
    uidvalidity: int
    highest_modseq: int | None = None
    size: int | None = None  # bytes, where the server has STATUS=SIZE (RFC 8438)


@dataclass(frozen=True)
class ServerFolder:
    raw_name: str  # exactly as on the wire (modified UTF-7), decoded as ASCII
    name: str  # for display
    delimiter: str
    flags: tuple[str, ...]
    special_use: str = ""
    status: FolderStatus | None = None

    @property
    def selectable(self) -> bool:
        return not any(f.lower() in ("\\noselect", "\\nonexistent") for f in self.flags)


@dataclass(frozen=True)
class Examined:
    uidvalidity: int
    uidnext: int
    exists: int
    highest_modseq: int | None
    mailbox_id: str = ""  # RFC 8474 MAILBOXID (servers with OBJECTID): survives a rename


@dataclass
class Fetched:
    """One message as the server sent it (bytes untouched)."""

    uid: int
    raw: bytes
    flags: list[str]
    internal_date: dt.datetime | None
    size: int
    gm_msgid: int | None = None
    gm_labels: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Meta:
    """What a cheap FETCH tells about a message before its body is downloaded."""

    uid: int
    size: int
    internal_date: dt.datetime | None = None
    message_id: str = ""
    gm_msgid: int | None = None
    flags: tuple[str, ...] = ()


class ImapSession:
    """A logged-in IMAPClient used read-only, with the extensions the server offers turned on."""

    def __init__(self, client: IMAPClient, on_bytes: Callable[[int], None] | None = None):
        self.client = client
        client.folder_encode = False  # we keep raw names ourselves
        client.normalise_times = False  # aware datetimes, as the server sent them
        client._imap.debug = 0  # imaplib formats every line for its debug log otherwise
        self._guard_reads(on_bytes)
        caps = {
            c.decode().upper() if isinstance(c, bytes) else c.upper() for c in client.capabilities()
        }
        self.capabilities = caps
        self.gmail = "X-GM-EXT-1" in caps
        self.list_status = "LIST-STATUS" in caps
        self.esearch = "ESEARCH" in caps
        self.condstore = False
        self.qresync = False
        self._enable_rfc7162()

    def _guard_reads(self, on_bytes: Callable[[int], None] | None) -> None:
        imap = self.client._imap
        read = imap.read

        def bounded_read(size: int) -> bytes:
            if size > MAX_LITERAL:
                raise imaplib.IMAP4.abort(f"the server announced a {size}-byte literal")
            data = read(size)
            if on_bytes:
                on_bytes(len(data))
            return data

        imap.read = bounded_read

    def _enable_rfc7162(self) -> None:
        caps = self.capabilities
        if "QRESYNC" in caps and "ENABLE" in caps:
            enabled = {e.upper() for e in self.client.enable("QRESYNC", "CONDSTORE")}
            self.qresync = b"QRESYNC" in enabled
            self.condstore = self.qresync or b"CONDSTORE" in enabled
        elif "CONDSTORE" in caps:
            if "ENABLE" in caps:
                self.client.enable("CONDSTORE")
            self.condstore = True

    # -- folders ---------------------------------------------------------------------------

    def list_folders(self) -> list[ServerFolder]:
        """Every folder, with its status where LIST-STATUS gives it for free."""
        items = self._status_items() + (["SIZE"] if "STATUS=SIZE" in self.capabilities else [])
        returns = []
        if "SPECIAL-USE" in self.capabilities:
            returns.append("SPECIAL-USE")
        if self.list_status:
            returns.append(f"STATUS ({' '.join(items)})")
        args = ['""', '"*"'] + ([f"RETURN ({' '.join(returns)})"] if returns else [])
        typ, data = wire.simple(self.client, "LIST", *args)
        wire.check(typ, data, "LIST")
        listed = wire.untagged(self.client, "LIST")
        statuses = _parse_statuses(wire.untagged(self.client, "STATUS"))
        return [
            _server_folder(flags, delim, raw, statuses.get(wire.text(raw)))
            for flags, delim, raw in wire.chunks3(parse_response(wire.clean(listed)))
        ]

    def status(self, raw_name: str) -> FolderStatus:
        result = self.client.folder_status(raw_name, self._status_items())
        return _status_from(dict(result))

    def _status_items(self) -> list[str]:
        return ["MESSAGES", "UIDNEXT", "UIDVALIDITY"] + (
            ["HIGHESTMODSEQ"] if self.condstore else []
        )

    def examine(self, raw_name: str) -> Examined:
        info = self.client.select_folder(raw_name, readonly=True)
        modseq = info.get(b"HIGHESTMODSEQ") if self.condstore else None
        return Examined(
            uidvalidity=int(info[b"UIDVALIDITY"]),
            uidnext=int(info.get(b"UIDNEXT", 0)),
            exists=int(info.get(b"EXISTS", 0)),
            highest_modseq=int(modseq) if modseq is not None else None,
            mailbox_id=_mailbox_id(info) if "OBJECTID" in self.capabilities else "",
        )

    # -- searching -------------------------------------------------------------------------

    def search_uids(
        self,
        first_uid: int = 1,
        since: dt.date | None = None,
        before: dt.date | None = None,
    ) -> list[int]:
        """UIDs >= first_uid (server-side date range), ascending."""
        criteria = [f"UID {first_uid}:*"] if first_uid > 1 else ["ALL"]
        if since:
            criteria.append(f"SINCE {_imap_date(since)}")
        if before:
            criteria.append(f"BEFORE {_imap_date(before)}")
        if self.esearch:
            uids = self._esearch(" ".join(criteria))
        else:
            uids = [int(u) for u in self.client.search(" ".join(criteria))]
        # "n:*" always matches the highest UID, even when it is below n.
        return sorted(u for u in uids if u >= first_uid)

    def _esearch(self, criteria: str) -> list[int]:
        typ, data = wire.simple(self.client, "UID", "SEARCH", "RETURN (ALL)", criteria)
        wire.check(typ, data, "UID SEARCH")
        found: list[int] = []
        for line in wire.untagged(self.client, "ESEARCH"):
            words = wire.line_bytes(line).split()
            for key, value in zip(words, words[1:], strict=False):
                if key.upper() == b"ALL":
                    found.extend(wire.parse_sequence_set(value.decode()))
        return found

    # -- fetching --------------------------------------------------------------------------

    def fetch_meta(self, uids: Iterable[int], envelope: bool = False) -> dict[int, Meta]:
        """Sizes (and X-GM-MSGID, and for re-mapping Message-ID and internal date)."""
        items = ["RFC822.SIZE"]
        if envelope:
            items += ["FLAGS", "INTERNALDATE", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]
        if self.gmail:
            items.append("X-GM-MSGID")
        found: dict[int, Meta] = {}
        for chunk in _chunked(sorted(uids), UIDS_PER_COMMAND):
            if items == ["RFC822.SIZE"]:
                found.update(self._fetch_sizes(chunk))
                continue
            for uid, data in self.client.fetch(chunk, items).items():
                found[uid] = _meta(uid, data)
        return found

    def _fetch_sizes(self, uids: list[int]) -> dict[int, Meta]:
        """UID and size only, the common case, read with one pattern per line: the general
        response parser cost about half a second per 20,000 messages."""
        typ, data = wire.uid_fetch(self.client, wire.sequence_set(uids), "(RFC822.SIZE)")
        wire.check(typ, data, "UID FETCH")
        found: dict[int, Meta] = {}
        slow: list = []
        for line in wire.untagged(self.client, "FETCH"):
            m = wire.SIZE_LINE.match(line) if isinstance(line, bytes) else None
            if m is None:
                slow.append(line)
            else:
                uid = int(m.group("uid") or m.group("uid2"))
                found[uid] = Meta(uid=uid, size=int(m.group("size") or m.group("size2")))
        for uid, values in parse_fetch_response(slow, False, True).items():
            found[uid] = _meta(uid, values)
        return found

    def fetch_bodies(self, uids: list[int], body: bool = True) -> list[Fetched]:
        """Bodies with BODY.PEEK[] (flags stay as they are), in the order asked.

        With body=False only the rest (flags, dates, Gmail ids): for messages already archived."""
        items = ["FLAGS", "INTERNALDATE", "RFC822.SIZE"] + (["BODY.PEEK[]"] if body else [])
        if self.gmail:
            items += ["X-GM-MSGID", "X-GM-LABELS"]
        typ, data = wire.uid_fetch(self.client, wire.sequence_set(uids), f"({' '.join(items)})")
        if typ != "OK":
            detail = wire.line_bytes(data[0]).decode(errors="replace") if data and data[0] else ""
            raise IMAPClientError(f"UID FETCH failed: {detail}")
        response = wire.parse_bodies(wire.untagged(self.client, "FETCH"))
        return [_fetched(uid, response[uid]) for uid in uids if uid in response]

    def fetch_flags(
        self,
        uids: str = "1:*",
        changed_since: int | None = None,
        labels: dict[int, list[str]] | None = None,
    ) -> tuple[dict[int, list[str]], list[int]]:
        """Flags (of messages changed since a modseq) and, with QRESYNC, the UIDs vanished.
        On Gmail, `labels` (a dict given by the caller) is filled with each message's labels:
        a label change counts as a change there, like a flag."""
        items = ["FLAGS"] + (["X-GM-LABELS"] if self.gmail and labels is not None else [])
        modifiers = None
        if changed_since is not None:
            modifiers = [f"CHANGEDSINCE {changed_since}"] + (["VANISHED"] if self.qresync else [])
        wire.untagged(self.client, "VANISHED")
        typ, data = wire.uid_fetch(self.client, uids, f"({' '.join(items)})", *_paren(modifiers))
        wire.check(typ, data, "UID FETCH")
        vanished = wire.vanished_uids(wire.untagged(self.client, "VANISHED"))
        parsed = parse_fetch_response(wire.untagged(self.client, "FETCH"), False, True)
        flags = {uid: _flags(d.get(b"FLAGS", ())) for uid, d in parsed.items() if b"FLAGS" in d}
        if labels is not None:
            labels.update(
                {u: _labels(d[b"X-GM-LABELS"]) for u, d in parsed.items() if b"X-GM-LABELS" in d}
            )
        return flags, vanished

    def logout(self) -> None:
        try:
            self.client.logout()
        except Exception:  # noqa: BLE001 - the connection may already be gone
            try:
                self.client.shutdown()
            except Exception:  # noqa: BLE001
                pass


def _mailbox_id(info: dict) -> str:
    """`* OK [MAILBOXID (F2212ea87)]` as imaplib keeps it: [b"(F2212ea87)"]."""
    values = info.get(b"MAILBOXID") or []
    text = values[-1] if values else b""
    text = text.decode("ascii", errors="replace") if isinstance(text, bytes) else str(text)
    return text.strip().strip("()").strip()[:255]


def decode_name(raw_name: str) -> str:
    try:
        return decode_utf7(raw_name.encode("ascii"))
    except (UnicodeError, ValueError):
        return raw_name


# -- response helpers ----------------------------------------------------------------------


def _server_folder(flags, delim, raw, status: FolderStatus | None) -> ServerFolder:
    flag_names = tuple(wire.text(f) for f in flags)
    special = ""
    for flag in flag_names:
        canonical = SPECIAL_USE_ALIASES.get(flag, flag)
        if canonical in SPECIAL_USE:
            special = canonical
    raw_name = wire.text(raw)
    return ServerFolder(
        raw_name=raw_name,
        name=decode_name(raw_name),
        delimiter=wire.text(delim) if delim else "",
        flags=flag_names,
        special_use=special,
        status=status,
    )


def _parse_statuses(lines: list) -> dict[str, FolderStatus]:
    statuses = {}
    for parsed in (parse_response(wire.clean([line])) for line in lines):
        if len(parsed) >= 2:
            items = dict(zip(parsed[-1][::2], parsed[-1][1::2], strict=False))
            statuses[wire.text(parsed[0])] = _status_from(items)
    return statuses


def _status_from(items: dict) -> FolderStatus:
    items = {wire.text(k).upper(): v for k, v in items.items()}
    modseq, size = items.get("HIGHESTMODSEQ"), items.get("SIZE")
    return FolderStatus(
        messages=int(items.get("MESSAGES", 0)),
        uidnext=int(items.get("UIDNEXT", 0)),
        uidvalidity=int(items.get("UIDVALIDITY", 0)),
        highest_modseq=int(modseq) if modseq is not None else None,
        size=int(size) if size is not None else None,
    )


def _imap_date(day: dt.date) -> str:
    months = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
    return f"{day.day}-{months[day.month - 1]}-{day.year}"


def _chunked(items: list[int], size: int) -> Iterator[list[int]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _paren(modifiers: list[str] | None) -> list[str]:
    return [f"({' '.join(modifiers)})"] if modifiers else []


def _flags(values) -> list[str]:
    # \Recent belongs to a session, not to the message: keeping it would make every run
    # see flag "changes".
    return [wire.text(v) for v in values if wire.text(v).lower() != "\\recent"]


def _labels(values) -> list[str]:
    return [decode_name(wire.text(v)) for v in values or ()]


def _meta(uid: int, data: dict) -> Meta:
    header = b""
    for key, value in data.items():
        if key.startswith(b"BODY[HEADER.FIELDS") and isinstance(value, bytes):
            header = value
    return Meta(
        uid=uid,
        size=int(data.get(b"RFC822.SIZE", 0)),
        internal_date=data.get(b"INTERNALDATE"),
        message_id=_message_id(header),
        gm_msgid=_opt_int(data.get(b"X-GM-MSGID")),
        flags=tuple(_flags(data.get(b"FLAGS", ()))),
    )


def _message_id(header: bytes) -> str:
    text = header.decode("latin-1").replace("\r\n ", " ").replace("\r\n\t", " ")
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip().lower() == "message-id":
            return value.strip()
    return ""


def _opt_int(value) -> int | None:
    return int(value) if value is not None else None


def _fetched(uid: int, data: dict) -> Fetched:
    raw = data.get(b"BODY[]")
    if raw is None:
        raw = b""
    return Fetched(
        uid=uid,
        raw=raw,
        flags=_flags(data.get(b"FLAGS", ())),
        internal_date=data.get(b"INTERNALDATE"),
        size=int(data.get(b"RFC822.SIZE", len(raw))),
        gm_msgid=_opt_int(data.get(b"X-GM-MSGID")),
        gm_labels=_labels(data.get(b"X-GM-LABELS")),
    )
