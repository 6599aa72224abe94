# SQLite only: the search index keeps no copy of the text it indexes (content=''). The copy was
# 70% of the database and written by every backup; the snippets of a result page are now made
# from the messages themselves (archive.search._snippets). The index itself is carried over.
# Backwards, the text cannot come back from the index: run `manage.py reindex` afterwards.

from django.db import migrations

from archive.vendorsql import VendorRunSQL

COLUMNS = (
    "subject, body, from_addr, to_addrs, cc_addrs, attachments, "
    "tokenize = 'unicode61 remove_diacritics 2'"
)
NAMES = "subject, body, from_addr, to_addrs, cc_addrs, attachments"


def replace_with(options: str, copy: bool) -> list[str]:
    return [
        f"CREATE VIRTUAL TABLE archive_search_new USING fts5({COLUMNS}{options})",
        *(
            [
                f"INSERT INTO archive_search_new (rowid, {NAMES}) "
                f"SELECT rowid, {NAMES} FROM archive_search"
            ]
            if copy
            else []
        ),  # fmt: skip
        "DROP TABLE archive_search",
        "ALTER TABLE archive_search_new RENAME TO archive_search",
        "INSERT INTO archive_search(archive_search, rank) VALUES('automerge', 16)",
    ]


class Migration(migrations.Migration):
    dependencies = [("archive", "0004_search_automerge")]

    operations = [
        VendorRunSQL(
            "sqlite",
            replace_with(", content=''", copy=True),
            replace_with("", copy=False),  # a contentless index cannot give its text back
        )
    ]
