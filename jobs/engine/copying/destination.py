"""The destination side of a sync or restore: the only engine code that writes to a mailbox.

It creates folders, APPENDs messages with their flags and internal date, and, only when a job
asks for it, stores flags and expunges. APPENDs are pipelined where the server has LITERAL+
(RFC 7888): a whole batch goes out in one write and the answers are read after, one tagged answer
per message, so one refused message (too large, bad format) fails alone and the UID the server
gave each message comes back with it (APPENDUID, RFC 4315).
"""

from __future__ import annotations

import datetime as dt
import imaplib
import re
from dataclasses import dataclass

from imapclient import IMAPClient
from imapclient.datetime_util import datetime_to_INTERNALDATE
from imapclient.response_parser import parse_fetch_response

from jobs.engine.copying import fingerprint
from mail import errors
from mail.imap import UIDS_PER_COMMAND, ImapSession, decode_name
from mail.imap_wire import sequence_set

_APPENDUID = re.compile(rb"\[APPENDUID (\d+) (\d+)\]", re.I)
_QUOTA_WORDS = (b"[OVERQUOTA]", b"QUOTA EXCEEDED", b"OVER QUOTA", b"MAILBOX IS FULL")
# Pipelined bytes per write: big enough to keep the server busy, small enough to stay bounded.
PIPELINE_BYTES = 16 * 1024 * 1024


class QuotaExceeded(errors.PermanentError):
    """The destination refused a message because its quota is full: the sync stops."""


class FolderRefused(errors.EngineError):
    """The destination refused to create a folder (a name it does not allow): only that folder
    is left out, the rest of the run goes on."""


@dataclass
class Outgoing:
    key: int  # the caller's id for the message (a source UID, an archive row id)
    raw: bytes
    flags: list[str]
    internal_date: dt.datetime | None


@dataclass
class Appended:
    key: int
    uid: int | None  # None when the server has no UIDPLUS
    uidvalidity: int | None
    error: str = ""  # the server's refusal, when it refused

    @property
    def ok(self) -> bool:
        return not self.error


class Destination:
    """A logged-in client used to write; `session` gives the read helpers of ImapSession."""

    def __init__(self, client: IMAPClient):
        self.session = ImapSession(client)
        self.client = client
        caps = self.session.capabilities
        self.capabilities = caps
        self.uidplus = "UIDPLUS" in caps
        self.pipelined = "LITERAL+" in caps

    # -- folders ---------------------------------------------------------------------------

    def namespace(self) -> tuple[str, str] | None:
        if "NAMESPACE" not in self.capabilities:
            return None
        personal = self.client.namespace().personal
        if not personal:
            return None
        prefix, delimiter = personal[0]
        return _text(prefix), _text(delimiter) if delimiter else ""

    def create(self, raw_name: str) -> None:
        """Create (and subscribe) a folder; a folder that already exists is fine."""
        try:
            self.client.create_folder(raw_name)
        except imaplib.IMAP4.error as exc:
            if "ALREADYEXISTS" not in str(exc).upper() and "EXISTS" not in str(exc).upper():
                reason = re.sub(r"^create failed:\s*", "", str(exc), flags=re.I)[:300]
                raise FolderRefused(
                    f"The destination refused to create the folder “{decode_name(raw_name)}”: "
                    f"{reason}"
                ) from exc
        try:
            self.client.subscribe_folder(raw_name)
        except imaplib.IMAP4.error:
            pass  # subscribing is a courtesy to mail clients, not a requirement

    def quota(self) -> tuple[int, int] | None:
        """(bytes used, bytes allowed) of the quota root holding INBOX, None without QUOTA."""
        if "QUOTA" not in self.capabilities:
            return None
        imap = self.client._imap
        typ, data = imap._simple_command("GETQUOTAROOT", "INBOX")
        quotas = imap.untagged_responses.pop("QUOTA", [])
        imap.untagged_responses.pop("QUOTAROOT", None)
        if typ != "OK":
            return None
        for line in quotas:
            match = re.search(rb"STORAGE (\d+) (\d+)", line if isinstance(line, bytes) else b"")
            if match:
                return int(match.group(1)) * 1024, int(match.group(2)) * 1024
        return None

    # -- reading what is there -------------------------------------------------------------

    def fingerprints(self, uids: list[int] | None = None) -> dict[int, str]:
        """UID -> fingerprint of the messages in the selected folder (all, or these UIDs)."""
        return self.fingerprints_of(self.client, uids)

    @staticmethod
    def fingerprints_of(client: IMAPClient, uids: list[int] | None = None) -> dict[int, str]:
        """The same for any client with a folder selected (the source side uses it too)."""
        return {
            uid: fingerprint.fingerprint(header, size)
            for uid, (header, size) in headers_of(client, uids).items()
        }

    # -- writing ---------------------------------------------------------------------------

    def append(self, raw_name: str, messages: list[Outgoing]) -> list[Appended]:
        """APPEND every message; refusals (a full quota too) come back as results."""
        if not messages:
            return []
        self._writable(raw_name)
        if not self.pipelined:
            results = [self._append_one(raw_name, m) for m in messages]
        else:
            results = []
            for group in _by_bytes(messages, PIPELINE_BYTES):
                results += self._append_pipelined(raw_name, group)
        return results

    def _writable(self, raw_name: str) -> None:
        """Open the folder read-write when the selected one is read-only: Courier refuses an
        APPEND into the mailbox the connection has open with EXAMINE ("Current box is selected
        READ-ONLY"). Keeping the target open costs nothing: Dovecot appends to an open folder
        about twice as fast as to one it must open for every APPEND."""
        if self.client._imap.state == "SELECTED" and self.client._imap.is_readonly:
            self.client.select_folder(raw_name, readonly=False)

    @staticmethod
    def raise_if_over_quota(results: list[Appended]) -> None:
        """After the accepted ones are recorded: a full quota stops the whole sync."""
        for result in results:
            if result.error and _is_quota(result.error.encode(errors="replace")):
                raise QuotaExceeded(
                    f"The destination's quota is full: it refused a message with "
                    f"“{result.error}”. Free space or raise the quota, then run again: "
                    "what was copied stays, nothing is copied twice."
                )

    def _append_one(self, raw_name: str, message: Outgoing) -> Appended:
        try:
            response = self.client.append(
                raw_name, message.raw, flags=_flags(message.flags), msg_time=message.internal_date
            )
        except imaplib.IMAP4.abort:
            raise
        except imaplib.IMAP4.error as exc:
            return Appended(message.key, None, None, error=_reason(str(exc)))
        return _appended(message.key, "OK", [response])

    def _append_pipelined(self, raw_name: str, messages: list[Outgoing]) -> list[Appended]:
        imap = self.client._imap
        mailbox = _quoted(raw_name)
        tags, chunks = [], []
        for message in messages:
            tag = imap._new_tag()  # registers the tag with imaplib
            tags.append(tag)
            flags = " ".join(_flags(message.flags))
            when = (
                f' "{datetime_to_INTERNALDATE(message.internal_date)}"'
                if message.internal_date
                else ""
            )
            head = f" ({flags}){when} {{{len(message.raw)}+}}\r\n".encode()
            chunks += [tag, b" APPEND ", mailbox, head, message.raw, b"\r\n"]
        try:
            imap.send(b"".join(chunks))
        except OSError as exc:
            raise imaplib.IMAP4.abort(f"socket error: {exc}") from exc
        answers = _read_tagged(imap, tags)
        return [
            _appended(message.key, *answers[tag])
            for tag, message in zip(tags, messages, strict=True)
        ]

    def store_flags(self, changes: dict[int, list[str]]) -> int:
        """Replace the flags of messages in the selected (read-write) folder."""
        for uid, flags in changes.items():
            self.client.set_flags([uid], _flags(flags), silent=True)
        return len(changes)

    def delete(self, uids: list[int]) -> int:
        """Mark and expunge exactly these UIDs (UID EXPUNGE: never someone else's \\Deleted)."""
        if not uids:
            return 0
        for chunk in _chunks(sorted(uids)):
            self.client.add_flags(chunk, [b"\\Deleted"], silent=True)
            if self.uidplus:
                self.client.uid_expunge(chunk)
        if not self.uidplus:
            self.client.expunge()
        return len(uids)

    def logout(self) -> None:
        self.session.logout()


_FAST_HEADER = re.compile(rb"^\d+ \((?=.*UID (\d+))(?=.*RFC822\.SIZE (\d+)).*\{\d+\}$", re.S)


def headers_of(client: IMAPClient, uids: list[int] | None = None) -> dict[int, tuple[bytes, int]]:
    """UID -> (stable header fields, RFC822.SIZE) in the selected folder: all, or these UIDs.

    The usual answer shape is parsed with one regex; anything else goes through imapclient."""
    items = f"(UID RFC822.SIZE {fingerprint.FETCH_ITEM})"
    found: dict[int, tuple[bytes, int]] = {}
    targets = ["1:*"] if uids is None else [sequence_set(c) for c in _chunks(sorted(uids))]
    imap = client._imap
    for target in filter(None, targets):
        tag = imap._command("UID", "FETCH", target, items)
        typ, data = imap._command_complete("FETCH", tag)
        if typ != "OK":
            raise imaplib.IMAP4.error(f"UID FETCH failed: {data}")
        slow = []
        for item in imap.untagged_responses.pop("FETCH", []):
            match = _FAST_HEADER.match(item[0]) if isinstance(item, tuple) else None
            if match:
                found[int(match.group(1))] = (item[1], int(match.group(2)))
            elif item != b")":
                slow.append(item)
        for uid, values in parse_fetch_response(slow, False, True).items():
            header = values.get(fingerprint.FETCH_KEY, b"") or b""
            found[uid] = (header, int(values.get(b"RFC822.SIZE", 0)))
    return found


def sizes_of(client: IMAPClient, uids: list[int]) -> dict[int, int]:
    """UID -> RFC822.SIZE, parsed with a regex (imapclient's parser is slow for many UIDs)."""
    found: dict[int, int] = {}
    imap = client._imap
    for chunk in _chunks(sorted(uids)):
        tag = imap._command("UID", "FETCH", sequence_set(chunk), "(UID RFC822.SIZE)")
        typ, data = imap._command_complete("FETCH", tag)
        if typ != "OK":
            raise imaplib.IMAP4.error(f"UID FETCH failed: {data}")
        for line in imap.untagged_responses.pop("FETCH", []):
            text = line if isinstance(line, bytes) else line[0]
            uid, size = _UID.search(text), _SIZE.search(text)
            if uid and size:
                found[int(uid.group(1))] = int(size.group(1))
    return found


_UID = re.compile(rb"UID (\d+)")
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")


_LITERAL = re.compile(rb"\{(\d+)\}\r?\n$")


def _read_tagged(imap: imaplib.IMAP4, tags: list[bytes]) -> dict[bytes, tuple[str, list]]:
    """Read the server's answers until every tag has its tagged one: tag -> (type, [text]).

    A plain loop over lines: imaplib's general response parser costs more than the APPEND."""
    pending, found = set(tags), {}
    try:
        while pending:
            line = imap.readline()
            if not line:
                raise imaplib.IMAP4.abort("the server closed the connection")
            if line.startswith(b"* "):
                if line[2:5].upper() == b"BYE":
                    raise imaplib.IMAP4.abort(line.decode(errors="replace").strip())
                while match := _LITERAL.search(line):  # skip any literal in an untagged answer
                    imap.read(int(match.group(1)))
                    line = imap.readline()
                continue
            tag, _, rest = line.partition(b" ")
            typ, _, text = rest.partition(b" ")
            if tag in pending:
                found[tag] = (typ.decode(errors="replace").upper(), [text.rstrip(b"\r\n")])
                pending.discard(tag)
    except OSError as exc:
        raise imaplib.IMAP4.abort(f"socket error: {exc}") from exc
    finally:
        for tag in tags:
            imap.tagged_commands.pop(tag, None)
    return found


def _appended(key: int, typ: str, data: list) -> Appended:
    text = b" ".join(d if isinstance(d, bytes) else str(d).encode() for d in data or [])
    if typ != "OK":
        return Appended(key, None, None, error=_reason(text.decode(errors="replace")))
    match = _APPENDUID.search(text)
    if not match:
        return Appended(key, None, None)
    return Appended(key, int(match.group(2)), int(match.group(1)))


def _is_quota(text: bytes) -> bool:
    upper = text.upper()
    return any(word in upper for word in _QUOTA_WORDS)


def _reason(text: str) -> str:
    text = text.replace("append failed:", "").strip()
    return re.sub(r"\s*\(\d+\.\d+ \+ [\d.+ ]+secs\)\.?", "", text)[:300] or "refused"


def _flags(flags: list[str]) -> list[str]:
    # \Recent is the server's to set; sending it is a protocol error.
    return [f for f in flags if f.lower() != "\\recent"]


def _quoted(name: str) -> bytes:
    return b'"' + name.replace("\\", "\\\\").replace('"', '\\"').encode("ascii") + b'"'


def _text(value) -> str:
    return value.decode("ascii", errors="replace") if isinstance(value, bytes) else str(value)


def _chunks(uids: list[int]) -> list[list[int]]:
    return [uids[i : i + UIDS_PER_COMMAND] for i in range(0, len(uids), UIDS_PER_COMMAND)]


def _by_bytes(messages: list[Outgoing], limit: int) -> list[list[Outgoing]]:
    groups: list[list[Outgoing]] = [[]]
    total = 0
    for message in messages:
        if groups[-1] and total + len(message.raw) > limit:
            groups.append([])
            total = 0
        groups[-1].append(message)
        total += len(message.raw)
    return groups
