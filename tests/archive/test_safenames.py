"""Names made safe for exports: nothing a server or message chose can escape the export folder."""

from __future__ import annotations

import pytest

from archive.safenames import MAX_COMPONENT_BYTES, UniqueNames, safe_component

HOSTILE = [
    "..",
    ".",
    "../../etc/passwd",
    "/etc/passwd",
    "C:\\Windows\\system32",
    "a\x00b",
    "new\nline",
    "tab\there",
    "\u202eexe.txt",  # right-to-left override
    "CON",
    "nul.txt",
    "LPT1",
    "trailing. . ",
    "   ",
    "",
    "é" * 400,
    "😀" * 100,
    'a/b\\c:d*e?f"g<h>i|j',
    ".hidden",
]


@pytest.mark.parametrize("name", HOSTILE)
def test_a_safe_component_cannot_escape_or_hide(name):
    safe = safe_component(name)
    assert safe and safe not in (".", "..")
    assert not any(c in safe for c in '/\\:*?"<>|')
    assert all(c.isprintable() for c in safe)
    assert "\u202e" not in safe
    assert not safe.startswith(".") and not safe.endswith((".", " "))
    assert len(safe.encode("utf-8")) <= MAX_COMPONENT_BYTES
    assert safe.split(".")[0].lower() not in {"con", "nul", "lpt1"}


def test_ordinary_names_are_kept():
    assert safe_component("Sent Items") == "Sent Items"
    assert safe_component("Entwürfe") == "Entwürfe"
    assert safe_component("report.final.eml") == "report.final.eml"


def test_truncation_never_splits_a_character():
    safe = safe_component("日本" * 200)
    safe.encode("utf-8").decode("utf-8")
    assert len(safe.encode("utf-8")) <= MAX_COMPONENT_BYTES


def test_unique_names_differ_case_insensitively_and_keep_their_suffix():
    names = UniqueNames({"manifest.csv"})
    assert names.claim("INBOX", keep_suffix=False) == "INBOX"
    assert names.claim("inbox", keep_suffix=False) == "inbox-2"
    assert names.claim("a.eml", parent="INBOX") == "INBOX/a.eml"
    assert names.claim("A.EML", parent="INBOX") == "INBOX/A-2.EML"
    assert names.claim("Manifest.csv") == "Manifest-2.csv"


def test_a_unique_name_at_the_length_limit_stays_within_it():
    names = UniqueNames()
    long = "x" * MAX_COMPONENT_BYTES
    assert names.claim(long, keep_suffix=False) == long
    second = names.claim(long, keep_suffix=False)
    assert second.endswith("-2") and len(second.encode()) <= MAX_COMPONENT_BYTES
