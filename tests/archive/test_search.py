"""Full-text search finds what it should, on SQLite (FTS5) and on PostgreSQL (tsvector + GIN).

Marked `postgres`: `make test` runs these again under a real PostgreSQL.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from archive import search
from archive.models import Message
from archive.search import SearchQuery
from jobs import reaper
from tests.archive.browser_helpers import archive_raws
from tests.corpus import pick
from tests.helpers.search import mail_raw

pytestmark = [pytest.mark.postgres]
ROOT = Path(__file__).resolve().parents[2]


def ids(q: SearchQuery) -> set[str]:
    return {h.message.subject for h in search.search(q).hits}


def test_words_anywhere_must_all_match(corpus_of_four, django_db_blocker):
    assert ids(SearchQuery(words="zebra")) == {"Quarterly budget", "Holiday plans"}
    assert ids(SearchQuery(words="zebra office")) == {"Quarterly budget"}
    assert ids(SearchQuery(words="nothingmatches")) == set()


def test_a_quoted_phrase_matches_in_order_only(corpus_of_four):
    assert ids(SearchQuery(words='"zebra crossing"')) == {"Quarterly budget"}
    assert ids(SearchQuery(words='"crossing near the zebra"')) == {"Holiday plans"}


def test_field_searches_look_in_their_field_only(corpus_of_four):
    assert ids(SearchQuery(subject="invoice")) == {"Invoice"}
    assert ids(SearchQuery(body="invoice")) == {"Invoice"}
    assert ids(SearchQuery(from_addr="dave")) == {"Café crème"}
    assert ids(SearchQuery(cc_addrs="carol")) == {"Holiday plans"}
    assert ids(SearchQuery(to_addrs="bob")) >= {"Invoice", "Holiday plans"}
    assert ids(SearchQuery(attachments="rechnung")) == {"Invoice"}
    assert ids(SearchQuery(subject="zebra")) == set()


def test_non_ascii_words_are_found(corpus_of_four):
    assert ids(SearchQuery(words="Grüße")) == {"Café crème"}
    assert ids(SearchQuery(words="köln")) == {"Café crème"}


def test_filters_narrow_by_account_folder_dates_attachments_flags_and_deletion(
    corpus_of_four, folder
):
    account_only = SearchQuery(words="zebra", account_id=folder.account_id)
    assert ids(account_only) == {"Quarterly budget", "Holiday plans"}
    assert len(search.search(SearchQuery(words="zebra")).hits) == 3
    assert ids(SearchQuery(words="zebra", folder_id=folder.pk)) == {
        "Quarterly budget",
        "Holiday plans",
    }
    dated = SearchQuery(words="zebra", date_from=date(2024, 1, 5), date_to=date(2024, 1, 31))
    assert ids(dated) == {"Holiday plans"}
    assert ids(SearchQuery(words="the", has_attachment=True)) == {"Invoice"}
    Message.objects.filter(subject="Holiday plans").update(
        deleted_on_server_at=timezone.now(), flags=["\\Flagged"]
    )
    assert ids(SearchQuery(words="zebra", deleted=True)) == {"Holiday plans"}
    assert ids(SearchQuery(words="zebra", flag="\\Flagged")) == {"Holiday plans"}
    assert ids(SearchQuery(words="zebra", flag="-\\Seen", account_id=folder.account_id)) == {
        "Holiday plans"
    }


def test_snippets_highlight_matches_and_escape_the_rest(archive_root, folder):
    archive_raws(folder, [mail_raw("html", "a <script>alert(1)</script> needle here")])
    [hit] = search.search(SearchQuery(words="needle")).hits
    assert "<mark>needle</mark>" in hit.snippet
    assert "<script" not in hit.snippet and "alert(1)" in hit.snippet


def test_results_page_by_keyset_without_repeats(archive_root, folder):
    archive_raws(folder, [mail_raw(f"n{i}", "common word") for i in range(7)])
    first = search.search(SearchQuery(words="common"), per_page=3)
    second = search.search(SearchQuery(words="common"), after=first.next_after, per_page=3)
    third = search.search(SearchQuery(words="common"), after=second.next_after, per_page=3)
    subjects = [h.message.subject for p in (first, second, third) for h in p.hits]
    assert len(subjects) == 7 == len(set(subjects)) and third.next_after is None


def test_operators_and_quotes_in_a_query_are_only_text(corpus_of_four):
    for odd in ('"', "zebra OR", "NEAR(", "-zebra", "zebra*", "a:b", "'; DROP TABLE x", "***"):
        search.search(SearchQuery(words=odd))  # must not raise


def test_reindex_rebuilds_the_index_from_the_archive(corpus_of_four):
    search.SQLITE.clear() if connection.vendor == "sqlite" else search.POSTGRES.clear()
    assert ids(SearchQuery(words="zebra")) == set()
    call_command("reindex", stdout=open("/dev/null", "w"))
    assert ids(SearchQuery(words="zebra")) == {"Quarterly budget", "Holiday plans"}


def test_corpus_messages_are_searchable_by_a_word_of_their_body(archive_root, folder):
    chosen = pick(tag="charsets", limit=30)
    archive_raws(folder, [m.read() for m in chosen])
    assert search.search(SearchQuery(words="the")).hits


def test_the_search_page_shows_results_and_the_advanced_form(corpus_of_four, admin_client):
    html = admin_client.get(reverse("archive:search") + "?q=zebra").content.decode()
    assert "Quarterly budget" in html and "<mark>" in html
    html = admin_client.get(reverse("archive:search") + "?subject=invoice&has_attachment=yes")
    assert "Invoice" in html.content.decode()


def test_filters_alone_list_the_messages_that_pass_them(corpus_of_four, folder):
    q = SearchQuery(has_attachment=True, account_id=folder.account_id)
    assert q.empty and ids(q) == {"Invoice"}
    assert search.search(SearchQuery()).hits == []


def test_segments_a_backup_leaves_unmerged_are_merged_by_the_housekeeping(archive_root, folder):
    if connection.vendor != "sqlite":
        pytest.skip("FTS5 segments: SQLite only (PostgreSQL's GIN index merges by itself)")
    with connection.cursor() as c:
        c.execute("SELECT v FROM archive_search_config WHERE k = 'automerge'")
        assert c.fetchone() == (16,)  # migration 0004: merges wait for 16 segments
    for day in range(1, 13):  # twelve batches, twelve segments: none merged yet
        archive_raws(folder, [mail_raw(f"Batch {day}", f"wombat{day} report", day=day)], start=day)
    assert search.compact() >= 1
    assert search.compact() == 0  # nothing left to merge
    for day in range(1, 13):
        assert ids(SearchQuery(words=f"wombat{day}")) == {f"Batch {day}"}
    assert reaper.housekeeping()["search_merges"] == 0


def test_the_migration_to_a_contentless_index_keeps_what_was_indexed(tmp_path):
    """Migration 0005 on an archive indexed before it: the words stay searchable, the copy of
    the text is gone, and migrating back leaves an empty index to rebuild (SQLite only)."""
    env = {**os.environ, "DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "backupweb.settings"}
    env.pop("DATABASE_URL", None)

    def migrate(target: str) -> None:
        command = [sys.executable, "manage.py", "migrate", "archive", target, "-v0"]
        subprocess.run(command, cwd=ROOT, env=env, check=True)

    migrate("0004")
    db = sqlite3.connect(tmp_path / "backupweb.sqlite3")
    with db:
        db.execute(
            "INSERT INTO archive_search (rowid, subject, body, from_addr, to_addrs, cc_addrs, "
            "attachments) VALUES (7, 'Budget', 'the wombat report', 'a@x', 'b@x', '', '')"
        )
    migrate("0005")
    assert db.execute("SELECT rowid, body FROM archive_search WHERE archive_search MATCH "
                      "'wombat'").fetchall() == [(7, None)]  # fmt: skip
    assert (
        db.execute("SELECT v FROM archive_search_config WHERE k = 'automerge'").fetchone()[0] == 16
    )
    migrate("0004")
    assert db.execute("SELECT count(*) FROM archive_search").fetchone() == (0,)


def test_a_match_deep_in_a_long_message_gets_the_start_of_the_message_as_its_snippet(
    archive_root, folder
):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite makes snippets from the messages (PostgreSQL from its stored text)")
    padding = "lorem ipsum " * (search.SNIPPET_SOURCE_CHARS // 12 + 10)
    archive_raws(
        folder, [mail_raw("Long log", f"Opening words here. {padding} platypus at the end")]
    )
    (hit,) = search.search(SearchQuery(words="platypus")).hits
    assert hit.snippet.startswith("Opening words here. lorem ipsum")
    (hit,) = search.search(SearchQuery(words="opening")).hits
    assert "<mark>Opening</mark>" in hit.snippet


def test_a_body_of_a_megabyte_of_long_tokens_is_indexed_and_its_words_found(archive_root, folder):
    import base64
    import os

    blob = base64.b64encode(os.urandom(600_000)).decode()  # 800,000 characters
    noise = "\r\n".join(blob[i : i + 76] for i in range(0, len(blob), 76))
    archive_raws(
        folder, [mail_raw("Scanned report", f"findme quarterly\r\n{noise}\r\nclosing words")]
    )
    assert ids(SearchQuery(words="findme")) == {"Scanned report"}
    assert ids(SearchQuery(words="closing")) == {"Scanned report"}


def test_a_cjk_word_inside_a_longer_run_of_characters_is_found(archive_root, folder):
    archive_raws(folder, [
        mail_raw("发票", "我们今天收到了增值税发票，请查收。"),
        mail_raw("会议", "明天下午开会讨论税务问题。"),
        mail_raw("注文", "ご注文ありがとうございます。"),
    ])  # fmt: skip
    assert ids(SearchQuery(words="增值税")) == {"发票"}
    assert ids(SearchQuery(words="增值税发票")) == {"发票"}
    assert ids(SearchQuery(words="税务")) == {"会议"}
    assert ids(SearchQuery(words="ありがとう")) == {"注文"}
    assert ids(SearchQuery(words="税发")) == {"发票"}
    assert ids(SearchQuery(words="增税")) == set()
    assert ids(SearchQuery(words="增值税", excluded="查收")) == set()
