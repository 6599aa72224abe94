"""The dashboard's figures agree with each other, and the storage panel says what dedup saved."""

from __future__ import annotations

from datetime import UTC, datetime

from archive.ingest import FetchedMessage, store_messages
from archive.stats import archive_totals, storage
from tests.helpers.archive import make_folder


def _store_twice(folder, size: int = 2000) -> bytes:
    raw = b"Subject: counted\r\n\r\n" + b"x" * size
    when = datetime(2024, 1, 1, tzinfo=UTC)
    batch = [FetchedMessage(uid=1, raw=raw, flags=[], internal_date=when, size=len(raw))]
    store_messages(folder, batch)
    store_messages(make_folder(folder.account, "Copy"), batch)  # same bytes, second folder
    return raw


def test_the_headline_bytes_equal_the_per_day_chart_and_the_account_table(
    archive_root, folder, admin_client
):
    raw = _store_twice(folder)
    assert archive_totals() == (2, 2 * len(raw))
    response = admin_client.get("/")
    ctx = response.context
    assert (ctx["message_count"], ctx["archived_bytes"]) == (2, 2 * len(raw))
    per_day_bytes = ctx["bar_charts"][1]
    assert per_day_bytes.max_label == "3.9\xa0KB"  # one day, both copies: the same 4,040 bytes
    assert sum(row.bytes for row in ctx["board"].accounts) == ctx["archived_bytes"]


def test_the_storage_panel_shows_the_bytes_saved_by_storing_each_message_once(
    archive_root, folder, admin_client
):
    raw = _store_twice(folder, size=200_000)
    figures = storage()
    assert figures.message_bytes == 2 * len(raw) and figures.distinct_bytes == len(raw)
    assert figures.saved_by_dedup == len(raw)
    assert 0 < figures.stored_bytes < len(raw)  # zstd: a run of "x" compresses to little
    assert figures.saved_by_compression == len(raw) - figures.stored_bytes
    assert figures.free_bytes and figures.volume_bytes >= figures.free_bytes
    html = admin_client.get("/").content.decode()
    assert "Saved by storing each message once" in html and "195.3\xa0KB" in html


def test_the_dashboard_warns_when_the_archive_volume_is_nearly_full(
    archive_root, folder, admin_client, monkeypatch
):
    _store_twice(folder)
    from archive import stats

    monkeypatch.setattr(stats, "volume_space", lambda root: (5 * 2**30, 100 * 2**30))
    html = admin_client.get("/").content.decode()
    assert "Little space is left on the archive's volume: 5.0\xa0GB free of 100.0" in html


def test_an_archive_in_object_storage_has_no_volume_to_warn_about(
    archive_root, folder, admin_client, monkeypatch, settings
):
    _store_twice(folder)
    from archive import stats

    monkeypatch.setattr(stats, "volume_space", lambda root: (5 * 2**30, 100 * 2**30))
    settings.ARCHIVE_URL = "s3://archive-bucket/mail"
    figures = stats.storage()
    assert figures.free_bytes is None and figures.volume_bytes is None
    assert "Little space is left" not in admin_client.get("/").content.decode()
