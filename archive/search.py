"""Full-text search of the archive: one interface, SQLite FTS5 or PostgreSQL full-text search.

The index table (`archive_search`, created by migration 0002 for the database in use) holds one
row per message, keyed by the Message id: subject, body (capped ~1 MB), from, to, cc and
attachment names. On SQLite it keeps the words, not the text (migration 0005): the snippets of
a result page are made from the messages themselves (`_snippets`). The backup fills it as it
stores messages (`archive.ingest`, with the documents of `archive.indexing`, inside the ingest
transaction); `manage.py reindex` rebuilds it.

A query is words (every word must match; "quoted phrases" match as phrases) anywhere, plus
optional words per field, plus filters on the Message rows. Results come newest archived first
with keyset pagination on the message id, so a page costs the same at any depth.
"""

from __future__ import annotations

import re
import time as time_module
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time

from django.db import connection, transaction
from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.utils.html import escape, format_html_join
from django.utils.safestring import SafeString
from django.utils.timezone import make_aware

from archive.blobstore import BlobError, get_store
from archive.cjk import bigram_phrase, bigrams, with_bigrams
from archive.indexing import document_for
from archive.models import Message

FIELDS = ("subject", "body", "from_addr", "to_addrs", "cc_addrs", "attachments")
_TERM = re.compile(r'"([^"]*)"|(\S+)')
MARK_START, MARK_END = "\x02", "\x03"
PER_PAGE = 50


@dataclass
class SearchQuery:
    words: str = ""
    subject: str = ""
    body: str = ""
    from_addr: str = ""
    to_addrs: str = ""
    cc_addrs: str = ""
    attachments: str = ""
    account_id: int | None = None
    folder_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    has_attachment: bool | None = None
    flag: str = ""  # e.g. "\\Seen"; "-\\Seen" for messages without it
    deleted: bool | None = None
    size_min: int | None = None  # bytes, inclusive
    size_max: int | None = None  # bytes, exclusive
    folder_name: str = ""  # any account's folder of that name (case-insensitive)
    account_name: str = ""
    any_of: list[str] = field(default_factory=list)  # groups of terms: one of each must match
    excluded: str = ""  # terms none of which may match anywhere (needs terms that must)
    # The accounts the searcher may see (backupweb.access); None: no limit. A scope, not a
    # filter: it alone does not make a query list anything.
    account_ids: list[int] | None = None

    def field_terms(self) -> dict[str, list[str]]:
        """Terms per field; "" is the key for words anywhere."""
        out = {"": terms(self.words)}
        for name in FIELDS:
            out[name] = terms(getattr(self, name))
        return {k: v for k, v in out.items() if v}

    def alternatives(self) -> list[list[str]]:
        return [t for t in (terms(g) for g in self.any_of) if t]

    @property
    def empty(self) -> bool:
        return not self.field_terms() and not self.alternatives()

    @property
    def has_filters(self) -> bool:
        return bool(message_filter(self, scoped=False))


@dataclass
class Hit:
    message: Message
    snippet: SafeString


@dataclass
class SearchPage:
    hits: list[Hit] = field(default_factory=list)
    next_after: int | None = None  # pass as `after` for the next page


def terms(text: str) -> list[str]:
    """Words and "quoted phrases" of a query; quotes and operators lose their meaning."""
    out = []
    for m in _TERM.finditer(text or ""):
        term = " ".join((m.group(1) if m.group(1) is not None else m.group(2)).split())
        if term.strip("*\"'()"):
            out.append(term[:200])
    return out[:20]


def message_filter(q: SearchQuery, scoped: bool = True) -> Q:
    cond = Q()
    if scoped and q.account_ids is not None:
        cond &= Q(folder__account_id__in=q.account_ids)
    if q.account_id:
        cond &= Q(folder__account_id=q.account_id)
    if q.folder_id:
        cond &= Q(folder_id=q.folder_id)
    if q.folder_name:
        cond &= Q(folder__name__iexact=q.folder_name)
    if q.account_name:
        cond &= Q(folder__account__name__iexact=q.account_name)
    if q.size_min is not None:
        cond &= Q(size__gte=q.size_min)
    if q.size_max is not None:
        cond &= Q(size__lt=q.size_max)
    if q.date_from:
        cond &= Q(date__gte=make_aware(datetime.combine(q.date_from, time.min)))
    if q.date_to:
        cond &= Q(date__lte=make_aware(datetime.combine(q.date_to, time.max)))
    if q.has_attachment is not None:
        cond &= Q(has_attachments=q.has_attachment)
    if q.deleted is not None:
        cond &= Q(deleted_on_server_at__isnull=not q.deleted)
    if q.flag:
        wanted = q.flag.lstrip("-")
        flag_q = Q(flags__icontains=wanted)
        cond &= ~flag_q if q.flag.startswith("-") else flag_q
    return cond


def _filter_sql(q: SearchQuery, id_column: str) -> tuple[str, list]:
    """A correlated EXISTS over the Message rows for the filters (and for the row existing)."""
    qs = Message.objects.filter(message_filter(q)).filter(pk=RawSQL(id_column, ()))
    sql, params = qs.values("pk").query.sql_with_params()
    return f"EXISTS ({sql})", list(params)


def search(q: SearchQuery, *, after: int | None = None, per_page: int = PER_PAGE) -> SearchPage:
    """One page of results for `q`, newest archived first. Filters without words list the
    messages that pass them (no snippet)."""
    if q.account_ids == []:  # a searcher who may see no account finds nothing (no SQL for it)
        return SearchPage()
    if q.empty:
        if not q.has_filters:
            return SearchPage()
        return _filter_only(q, after, per_page)
    backend = _backend()
    rows = backend.query(q, after, per_page + 1)
    ids = [r[0] for r in rows[:per_page]]
    by_id = Message.objects.select_related("folder", "folder__account").in_bulk(ids)
    snippets = backend.snippets(q, [by_id[i] for i in ids if i in by_id], dict(rows))
    hits = [Hit(by_id[i], highlight(snippets.get(i, ""))) for i in ids if i in by_id]
    return SearchPage(hits, next_after=ids[-1] if len(rows) > per_page else None)


def _filter_only(q: SearchQuery, after: int | None, per_page: int) -> SearchPage:
    qs = Message.objects.filter(message_filter(q)).select_related("folder", "folder__account")
    if after:
        qs = qs.filter(pk__lt=after)
    rows = list(qs.order_by("-pk")[: per_page + 1])
    hits = [Hit(m, highlight("")) for m in rows[:per_page]]
    return SearchPage(hits, next_after=rows[per_page - 1].pk if len(rows) > per_page else None)


def highlight(snippet: str) -> SafeString:
    """The snippet escaped, with matches (between the markers) in <mark>."""
    pieces = re.split(f"({MARK_START}[^{MARK_END}]*{MARK_END})", snippet or "")
    return format_html_join(
        "",
        "{}",
        ((_mark(p),) for p in pieces if p),
    )


def _mark(piece: str) -> SafeString | str:
    if piece.startswith(MARK_START):
        return format_html_join("", "<mark>{}</mark>", [(piece.strip(MARK_START + MARK_END),)])
    return escape(piece)


# -- indexing ---------------------------------------------------------------------------------


def index_documents(pairs: Iterable) -> None:
    """Add the index rows of (Message, indexing.Document) pairs (messages not yet indexed)."""
    rows = [(m.pk, *(_clean(getattr(d, f)) for f in FIELDS)) for m, d in pairs]
    if rows:
        _backend().write(rows)


def _clean(text: str) -> str:
    return (text or "").replace("\x00", " ").replace(MARK_START, " ").replace(MARK_END, " ")


def rebuild(
    progress: Callable[[int, int], None] | None = None, batch: int = 200, store=None
) -> int:
    """Rebuild the whole index from the blob store (manage.py reindex); returns messages indexed."""
    store = store or get_store()
    _backend().clear()
    total = Message.objects.count()
    done, last = 0, 0
    while True:
        chunk = list(
            Message.objects.filter(pk__gt=last).order_by("pk").values_list("pk", "blob_id")[:batch]
        )
        if not chunk:
            break
        pairs = [(_Row(pk), document_for(store.get(sha))) for pk, sha in chunk]
        with transaction.atomic():
            index_documents(pairs)
        done += len(chunk)
        last = chunk[-1][0]
        if progress:
            progress(done, total)
    return done


@dataclass
class _Row:
    pk: int


def compact(seconds: float = 1.0) -> int:
    """Merge the search index's segments a step at a time, for at most about `seconds`; returns
    the steps that merged something. SQLite only: while a backup writes, the index merges 16
    segments at a time (migration 0004) instead of 4, which costs the backup less, and the
    housekeeping merges what remains here, so a search reads few segments."""
    if connection.vendor != "sqlite":
        return 0  # PostgreSQL's GIN index folds its pending entries in by itself
    deadline = time_module.monotonic() + seconds
    steps = 0
    while time_module.monotonic() < deadline:
        with transaction.atomic(), connection.cursor() as c:
            before = connection.connection.total_changes
            c.execute("INSERT INTO archive_search(archive_search, rank) VALUES('merge', 500)")
            # FTS5: a change count up by less than 2 means there was nothing left to merge.
            if connection.connection.total_changes - before < 2:
                return steps
        steps += 1
    return steps


def index_size() -> int:
    """Bytes the search index takes in the database (best effort)."""
    return _backend().size()


def _backend():
    return POSTGRES if connection.vendor == "postgresql" else SQLITE


# -- SQLite FTS5 ------------------------------------------------------------------------------


class _SQLite:
    def write(self, rows: list[tuple]) -> None:
        # Only new messages are indexed (ingest, or a rebuild after clear), and SQLite never
        # reuses a message id (AUTOINCREMENT): no row to replace, so no DELETE first.
        with connection.cursor() as c:
            c.executemany(
                "INSERT INTO archive_search (rowid, subject, body, from_addr, to_addrs, "
                "cc_addrs, attachments) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [(pk, *map(with_bigrams, fields)) for pk, *fields in rows],
            )

    def clear(self) -> None:
        with connection.cursor() as c:
            c.execute("INSERT INTO archive_search(archive_search) VALUES('delete-all')")

    def match(self, q: SearchQuery) -> str:
        parts = []
        for name, words in q.field_terms().items():
            phrase = " AND ".join(_fts_phrase(w) for w in words)
            parts.append(f"{name} : ({phrase})" if name else f"({phrase})")
        parts += [f"({' OR '.join(_fts_phrase(w) for w in g)})" for g in q.alternatives()]
        excluded = terms(q.excluded)
        if excluded:
            return f"({' AND '.join(parts)}) NOT ({' OR '.join(map(_fts_phrase, excluded))})"
        return " AND ".join(parts)

    def query(self, q: SearchQuery, after: int | None, limit: int) -> list[tuple[int, str]]:
        exists, params = _filter_sql(q, "archive_search.rowid")
        sql = f"SELECT rowid FROM archive_search WHERE archive_search MATCH %s AND {exists}"
        args: list = [self.match(q), *params]
        if after:
            sql += " AND rowid < %s"
            args.append(after)
        sql += " ORDER BY rowid DESC LIMIT %s"
        with connection.cursor() as c:
            c.execute(sql, [*args, limit])
            return [(row[0], "") for row in c.fetchall()]

    def snippets(self, q: SearchQuery, messages: list, found: dict) -> dict[int, str]:
        return _snippets(messages, self.match(q))  # the index has no text to cut them from

    def size(self) -> int:
        with connection.cursor() as c:
            try:
                c.execute("SELECT SUM(pgsize) FROM dbstat WHERE name LIKE 'archive_search%%'")
                return int(c.fetchone()[0] or 0)
            except Exception:  # noqa: BLE001 - dbstat is optional in SQLite builds
                return 0


def _snippets(messages: list[Message], match: str) -> dict[int, str]:
    """Message id -> snippet, for one page of results.

    The SQLite index keeps no copy of the text it indexed (contentless: the text is 70% of the
    database otherwise, written by every backup). The page's messages are read from the blob
    store, put in a small index of this connection's own (TEMP) with the same tokenizer, and
    FTS5's snippet() runs on that with the same query: the same fragments it would have
    chosen. A message whose blob cannot be read gets no snippet."""

    store, rows = get_store(), []
    for message in messages:
        try:
            doc = document_for(store.get(message.blob_id))
        except BlobError:
            continue
        fields = (_clean(getattr(doc, f)[:SNIPPET_SOURCE_CHARS]) for f in FIELDS)
        rows.append((message.pk, *fields))
    if not rows:
        return {}
    with connection.cursor() as c:
        c.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.search_page USING fts5({_COLUMNS})")
        c.execute("DELETE FROM temp.search_page")
        c.executemany(
            f"INSERT INTO temp.search_page (rowid, {', '.join(FIELDS)}) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s)",
            rows,
        )
        c.execute(
            "SELECT rowid, snippet(search_page, -1, char(2), char(3), '…', 16) "
            "FROM temp.search_page WHERE search_page MATCH %s",
            [match],
        )
        found = dict(c.fetchall())
    # Matched further in than the text looked at: the start of the message instead.
    return {pk: found.get(pk) or _opening(body) for pk, _, body, *_ in rows}


def _opening(text: str, words: int = 16) -> str:
    cut = text.split(None, words)
    return " ".join(cut[:words]) + (" …" if len(cut) > words else "")


# Text of each field a snippet is looked for in: snippet() reads all it is given, and a page of
# long messages (patches, logs) took 125 ms with whole bodies; a match further in gets the
# start of the message as its snippet.
SNIPPET_SOURCE_CHARS = 20_000
_COLUMNS = ", ".join(FIELDS) + ", tokenize = 'unicode61 remove_diacritics 2'"


def _fts_phrase(term: str) -> str:
    prefix = term.endswith("*")
    term = bigram_phrase(term.rstrip("*")).replace('"', '""')
    return f'"{term}"' + (" *" if prefix else "")


# -- PostgreSQL -------------------------------------------------------------------------------

_DOCUMENT_SQL = (
    "setweight(to_tsvector('simple', %s), 'A') || setweight(to_tsvector('simple', %s), 'D') || "
    "setweight(to_tsvector('simple', %s || ' ' || %s || ' ' || %s), 'B') || "
    "setweight(to_tsvector('simple', %s), 'C')"
)


# PostgreSQL refuses a tsvector over 1 MB ("string is too long for tsvector"), which a body of
# about 1 MB of distinct long tokens (inline base64, say) reaches: the whole batch, and so the
# backup, failed. The document leaves out tokens nobody types (over 48 characters) and indexes at
# most the first 500,000 characters of the body; the body column keeps the text for snippets.
_LONG_TOKEN = re.compile(r"\S{49,}")
PG_DOCUMENT_BODY_CHARS = 500_000


def _document_body(text: str) -> str:
    return _LONG_TOKEN.sub(" ", text)[:PG_DOCUMENT_BODY_CHARS]


def _document_texts(row: tuple) -> tuple:
    """The texts of _DOCUMENT_SQL for an index row: subject and body with their CJK bigrams."""
    body = f"{_document_body(row[2])} {bigrams(row[2])}"
    return (with_bigrams(row[1]), body, *(_split(v) for v in row[3:7]))


class _Postgres:
    def write(self, rows: list[tuple]) -> None:
        with connection.cursor() as c:
            c.executemany(
                "INSERT INTO archive_search (message_id, subject, body, from_addr, to_addrs, "
                "cc_addrs, attachments, document) VALUES (%s, %s, %s, %s, %s, %s, %s, "
                f"{_DOCUMENT_SQL}) ON CONFLICT (message_id) DO UPDATE SET "
                "subject = EXCLUDED.subject, body = EXCLUDED.body, from_addr = EXCLUDED.from_addr,"
                " to_addrs = EXCLUDED.to_addrs, cc_addrs = EXCLUDED.cc_addrs, "
                "attachments = EXCLUDED.attachments, document = EXCLUDED.document",
                [(*r, *_document_texts(r)) for r in rows],
            )

    def clear(self) -> None:
        with connection.cursor() as c:
            c.execute("TRUNCATE archive_search")

    def tsquery(self, q: SearchQuery) -> tuple[str, list, list[str], list]:
        """(query over the whole document, its params, per-field checks, their params)."""
        all_terms = [w for words in q.field_terms().values() for w in words]
        parts = [_pg_phrase(w) for w in all_terms]
        params: list = [_pg_term(bigram_phrase(w)) for w in all_terms]
        for group in [*q.alternatives(), terms(q.excluded)]:
            if group:
                parts.append(f"({' || '.join(_pg_phrase(w) for w in group)})")
                params += [_pg_term(bigram_phrase(w)) for w in group]
        if terms(q.excluded):
            parts[-1] = f"!!{parts[-1]}"
        query = " && ".join(parts)
        checks, check_params = [], []
        for name, words in q.field_terms().items():
            if name and name != "body":  # body words: the document query already covers them
                for w in words:
                    checks.append(f"to_tsvector('simple', {_field_text(name)}) @@ {_pg_phrase(w)}")
                    check_params.append(_pg_term(w))
        return query, params, checks, check_params

    def query(self, q: SearchQuery, after: int | None, limit: int) -> list[tuple[int, str]]:
        query, params, checks, check_params = self.tsquery(q)
        exists, filter_params = _filter_sql(q, "s.message_id")
        where = [f"s.document @@ ({query})", exists, *checks]
        args = [*params, *filter_params, *check_params]
        if after:
            where.append("s.message_id < %s")
            args.append(after)
        sql = (
            "SELECT p.message_id, ts_headline('simple', LEFT(p.subject || ' — ' || p.body, 200000),"
            f" ({query}), 'StartSel=\x02, StopSel=\x03, MaxWords=30, MinWords=12, "
            'MaxFragments=2, FragmentDelimiter=" … "\') FROM (SELECT s.message_id, s.subject, '
            f"s.body FROM archive_search s WHERE {' AND '.join(where)} "
            "ORDER BY s.message_id DESC LIMIT %s) p ORDER BY p.message_id DESC"
        )
        with connection.cursor() as c:
            c.execute(sql, [*params, *args, limit])
            return list(c.fetchall())

    def snippets(self, q: SearchQuery, messages: list, found: dict) -> dict[int, str]:
        return found  # ts_headline made them with the query

    def size(self) -> int:
        with connection.cursor() as c:
            c.execute("SELECT pg_total_relation_size('archive_search')")
            return int(c.fetchone()[0] or 0)


# PostgreSQL's parser keeps "dave@example.org" as one lexeme: addresses are indexed whole and
# split at "@" and ".", so a search for "dave" or for "example.org" finds them too.
# File names ("rechnung-2024.pdf") likewise.
_SPLIT_FIELDS = ("from_addr", "to_addrs", "cc_addrs", "attachments")
_SPLIT_CHARS = "@.<>-_/"


def _split(text: str) -> str:
    return f"{text} {text.translate({ord(c): ' ' for c in _SPLIT_CHARS})}"


def _field_text(name: str) -> str:
    if name in _SPLIT_FIELDS:
        spaces = " " * len(_SPLIT_CHARS)
        return f"(s.{name} || ' ' || translate(s.{name}, '{_SPLIT_CHARS}', '{spaces}'))"
    return f"s.{name}"


def _pg_phrase(term: str) -> str:
    if term.endswith("*"):
        return "to_tsquery('simple', %s)"
    return "phraseto_tsquery('simple', %s)"


def _pg_term(term: str) -> str:
    if term.endswith("*"):
        # A prefix search: one lexeme, quoted so nothing in it is an operator.
        word = re.sub(r"[^\w]", "", term.rstrip("*")) or "x"
        return f"{word}:*"
    return term


SQLITE = _SQLite()
POSTGRES = _Postgres()
