"""Listing the archive: account totals, folder trees, and folder pages with keyset pagination.

A folder page never uses OFFSET: the page after (or before) a row is "the next N rows whose
(sort key, id) is past that row's", answered from the `archive_msg_sort_*` indexes (migration
0002, expressions in `archive.dbsql`), so the first and the last page of a million-message folder
cost the same as those of a small one.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import CharField, Count, Sum
from django.db.models.expressions import RawSQL

from archive.dbsql import sort_sql
from archive.folders import folder_path
from archive.models import Folder, Message

SORTS = ("date", "from", "subject", "size")
PER_PAGE = 50
LIST_FIELDS = (
    "id", "folder_id", "uid", "subject", "from_addr", "date", "internal_date", "size",
    "has_attachments", "flags", "deleted_on_server_at", "parse_error",
)  # fmt: skip


def account_totals(accounts) -> list[dict]:
    """Per account: messages, bytes and folders archived (from the folder counters)."""
    figures = {
        row["account_id"]: row
        for row in Folder.objects.values("account_id").annotate(
            messages=Sum("message_count"), size=Sum("total_bytes"), folders=Count("id")
        )
    }
    keys = ("messages", "size", "folders")
    return [
        {"account": a, **{k: (figures.get(a.pk) or {}).get(k) or 0 for k in keys}} for a in accounts
    ]


@dataclass
class TreeNode:
    name: str
    depth: int
    folders: list[Folder] = field(default_factory=list)  # rows for this path (UIDVALIDITY eras)

    @property
    def message_count(self) -> int:
        return sum(f.message_count for f in self.folders)

    @property
    def total_bytes(self) -> int:
        return sum(f.total_bytes for f in self.folders)

    @property
    def deleted_on_server(self) -> bool:
        return bool(self.folders) and all(f.deleted_on_server_at for f in self.folders)


def folder_tree(account) -> list[TreeNode]:
    """The account's folders as an indented tree (parents that are not folders included)."""
    nodes: dict[tuple[str, ...], TreeNode] = {}
    for folder in Folder.objects.filter(account=account).order_by("name", "uidvalidity", "pk"):
        parts = tuple(folder_path(folder.name, folder.delimiter))
        for i in range(1, len(parts) + 1):
            key = parts[:i]
            if key not in nodes:
                nodes[key] = TreeNode(name=parts[i - 1], depth=i - 1)
        nodes[parts].folders.append(folder)
    inbox_first = sorted(nodes, key=lambda k: (k[0].upper() != "INBOX", [p.casefold() for p in k]))
    return [nodes[k] for k in inbox_first]


# -- keyset pagination ------------------------------------------------------------------------


@dataclass
class Page:
    rows: list[Message]
    next_cursor: str | None = None
    prev_cursor: str | None = None


def encode_cursor(value, pk: int) -> str:
    data = json.dumps([value if isinstance(value, int | None) else str(value), pk])
    return base64.urlsafe_b64encode(data.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[object, int] | None:
    try:
        value, pk = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError):
        return None
    if not isinstance(pk, int) or not isinstance(value, str | int):
        return None
    return value, pk


def folder_page(
    folder_ids: list[int],
    sort: str = "date",
    descending: bool = True,
    after: str | None = None,
    before: str | None = None,
    last: bool = False,
    per_page: int = PER_PAGE,
) -> Page:
    """One page of a folder's messages. `after`/`before` are cursors from a previous page;
    `last` asks for the final page. Several folder rows (UIDVALIDITY eras) list as one."""
    sort = sort if sort in SORTS else "date"
    key_sql = sort_sql(connection.vendor, sort)
    # The key is read back as text (PostgreSQL cannot hand '-infinity' to Python as a datetime)
    # and compared as the indexed expression, to which both databases cast it back.
    qs = Message.objects.filter(folder_id__in=folder_ids).annotate(
        sort_key=RawSQL(f"CAST(({key_sql}) AS TEXT)", (), output_field=CharField())
    )
    backwards = bool(before) or last
    cursor = decode_cursor(before or after or "") if (before or after) else None
    forward_desc = descending != backwards  # the direction rows are fetched in
    if cursor is not None:
        op = "<" if forward_desc else ">"
        qs = qs.extra(
            where=[f'({key_sql}, "archive_message"."id") {op} (%s, %s)'], params=list(cursor)
        )
    key = RawSQL(key_sql, ())
    ordering = (key.desc(), "-id") if forward_desc else (key.asc(), "id")
    rows = list(qs.order_by(*ordering).only(*LIST_FIELDS)[: per_page + 1])
    more = len(rows) > per_page
    rows = rows[:per_page]
    if backwards:
        rows.reverse()
    page = Page(rows)
    if rows:
        has_next = (more and not backwards) or (backwards and not last and before is not None)
        has_prev = (more and backwards) or (not backwards and cursor is not None)
        page.next_cursor = encode_cursor(rows[-1].sort_key, rows[-1].pk) if has_next else None
        page.prev_cursor = encode_cursor(rows[0].sort_key, rows[0].pk) if has_prev else None
    return page
