"""The command line's progress lines use the pages' sizes and say of how many bytes."""

from __future__ import annotations

from jobs.cli import bar_line
from jobs.engine.progress import FolderProgress

MB = 1024 * 1024


def test_a_bar_line_shows_bytes_of_the_bytes_to_fetch_in_the_pages_units():
    line = bar_line(FolderProgress("INBOX", "running", 10, 4, 2 * MB, total_bytes=5 * MB))
    assert "4/10" in line and "2.0 MB of 5.0 MB running" in line


def test_a_bar_line_without_known_sizes_shows_the_bytes_fetched_alone():
    line = bar_line(FolderProgress("INBOX", "partial", 20, 19, 52 * MB + 100_000, "1 parked"))
    assert line.endswith("52.1 MB partial 1 parked")
