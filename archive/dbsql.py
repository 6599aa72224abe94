"""Database-specific SQL of the archive browser: the search index tables and the sort indexes.

Django's index expressions pass constants as parameters, which SQLite then cannot match with an
expression index; these statements are written out once here, used by the migration, and the
queries in `archive.browse` use exactly the same expressions, so both databases serve a folder
page from an index whatever its size.
"""

from __future__ import annotations

# Sort keys of the folder message list, per database vendor. Text keys are cut on PostgreSQL so
# that no index entry can pass its B-tree size limit whatever a subject holds.
SORT_SQL = {
    "sqlite": {
        "date": "COALESCE({t}date, {t}internal_date, '0001-01-01 00:00:00')",
        "size": "{t}size",
        "from": "LOWER({t}from_addr)",
        "subject": "LOWER({t}subject)",
    },
    "postgresql": {
        "date": "COALESCE({t}date, {t}internal_date, '-infinity'::timestamptz)",
        "size": "{t}size",
        "from": "LOWER(LEFT({t}from_addr, 100))",
        "subject": "LOWER(LEFT({t}subject, 100))",
    },
}


def sort_sql(vendor: str, key: str, table: str = '"archive_message".') -> str:
    return SORT_SQL[vendor][key].format(t=table)


def sort_index_sql(vendor: str) -> list[str]:
    return [
        f"CREATE INDEX archive_msg_sort_{key} ON archive_message "
        f"(folder_id, {sort_sql(vendor, key, table='')}, id)"
        for key in SORT_SQL[vendor]
    ]


def drop_sort_index_sql(vendor: str) -> list[str]:
    return [f"DROP INDEX IF EXISTS archive_msg_sort_{key}" for key in SORT_SQL[vendor]]


SQLITE_SEARCH = [
    "CREATE VIRTUAL TABLE archive_search USING fts5("
    "subject, body, from_addr, to_addrs, cc_addrs, attachments, "
    "tokenize = 'unicode61 remove_diacritics 2')",
]
SQLITE_SEARCH_DROP = ["DROP TABLE IF EXISTS archive_search"]

# No foreign key to archive_message: Django's test flush truncates model tables only, and rows
# of deleted messages are harmless (every query joins archive_message); reindex drops them.
POSTGRES_SEARCH = [
    "CREATE TABLE archive_search ("
    "message_id bigint PRIMARY KEY, subject text NOT NULL, body text NOT NULL, "
    "from_addr text NOT NULL, to_addrs text NOT NULL, cc_addrs text NOT NULL, "
    "attachments text NOT NULL, document tsvector NOT NULL)",
    "CREATE INDEX archive_search_document ON archive_search USING gin (document)",
]
POSTGRES_SEARCH_DROP = ["DROP TABLE IF EXISTS archive_search"]
