"""Folder names: modified UTF-7 on the wire, readable text for display."""

from __future__ import annotations

import pytest

from archive.folders import decode_folder_name, encode_folder_name, folder_path


@pytest.mark.parametrize(
    ("wire", "display"),
    [
        ("INBOX", "INBOX"),
        ("Entw&APw-rfe", "Entwürfe"),
        (b"&AOk-t&AOk-", "été"),
        ("&ZeVnLIqe-/&MMYwuTDI-", "日本語/テスト"),
        ("Tom &- Jerry", "Tom & Jerry"),
        ("&2D3eAA-", "😀"),
        ("Sent Items.2024", "Sent Items.2024"),
        ("A lone & stays", "A lone & stays"),  # not valid modified UTF-7: shown as sent
        ("bad&Zz", "bad&Zz"),
        ("x&AGE-", "x&AGE-"),  # a non-canonical encoding of "xa" is not trusted
        ("Überweisungen", "Überweisungen"),  # UTF8=ACCEPT servers send UTF-8 text
        ("x&AAA-y&ABs-[31m", "x\ufffdy\ufffd[31m"),  # NUL and ESC smuggled in as UTF-7
    ],
)
def test_folder_names_are_decoded_from_modified_utf7(wire, display):
    assert decode_folder_name(wire) == display


@pytest.mark.parametrize("name", ["Entwürfe", "日本語/テスト", "Tom & Jerry", "😀", "plain"])
def test_display_names_encode_back_to_the_wire_form(name):
    assert decode_folder_name(encode_folder_name(name)) == name


def test_the_hierarchy_follows_the_server_delimiter():
    assert folder_path("INBOX.Work.2024", ".") == ["INBOX", "Work", "2024"]
    assert folder_path("INBOX.Work", "/") == ["INBOX.Work"]
    assert folder_path("Flat", "") == ["Flat"]
