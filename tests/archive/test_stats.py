"""The dashboard shows what the archive really holds."""

from __future__ import annotations

from datetime import UTC, datetime

from archive.ingest import FetchedMessage, store_messages
from archive.stats import archive_totals
from tests.helpers.archive import make_folder


def test_the_dashboard_counts_archived_messages_and_distinct_bytes(
    archive_root, folder, admin_client
):
    raw = b"Subject: counted\r\n\r\n" + b"x" * 2000
    when = datetime(2024, 1, 1, tzinfo=UTC)
    batch = [FetchedMessage(uid=1, raw=raw, flags=[], internal_date=when, size=len(raw))]
    store_messages(folder, batch)
    store_messages(make_folder(folder.account, "Copy"), batch)  # same bytes, second folder
    assert archive_totals() == (2, len(raw))
    response = admin_client.get("/")
    assert (response.context["message_count"], response.context["archived_bytes"]) == (2, len(raw))
