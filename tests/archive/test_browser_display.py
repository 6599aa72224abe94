"""How the archive pages name things: flags by human names, one export control per page."""

from __future__ import annotations

import re

from django.urls import reverse

from archive.templatetags.archive_tags import flag_names
from tests.archive.browser_helpers import archive_raws

RAW = b"From: a@example.org\r\nSubject: flagged one\r\nMessage-ID: <f1@example.org>\r\n\r\nhi\r\n"
FLAGS = ("\\Seen", "\\Answered", "\\Flagged", "$Forwarded", "\\Draft", "\\Deleted", "$Junk",
         "$label1", "\\Recent")  # fmt: skip


def test_flags_are_shown_by_human_names_and_labels_without_the_dollar():
    assert flag_names(FLAGS) == [
        "Seen", "Answered", "Flagged", "Forwarded", "Draft", "Deleted", "Junk", "label1",
    ]  # fmt: skip
    assert flag_names(["Junk", "$Junk", "NonJunk"]) == ["Junk", "Not junk"]


def test_the_folder_and_message_pages_show_no_raw_imap_keywords(archive_root, folder, admin_client):
    message = archive_raws(folder, [RAW], flags=FLAGS)[0]
    for url in (reverse("archive:folder", args=[folder.pk]),
                reverse("archive:message", args=[message.pk])):  # fmt: skip
        html = admin_client.get(url).content.decode()
        badges = re.findall(r'<span class="badge">([^<]+)</span>', html)
        assert "Forwarded" in badges and "label1" in badges and "Junk" in badges
        assert not [b for b in badges if b.startswith(("$", "\\"))]


def test_each_archive_page_has_one_export_control(archive_root, folder, admin_client):
    archive_raws(folder, [RAW])
    pages = {
        "folder": reverse("archive:folder", args=[folder.pk]),
        "account": reverse("archive:account", args=[folder.account.pk]),
        "search": reverse("archive:search") + "?q=flagged",
    }
    for name, url in pages.items():
        html = admin_client.get(url).content.decode()
        assert html.count('class="actions export-controls"') == 1, name
        assert html.count('name="fmt"') == 1, name  # one format choice, not one per control
        assert html.count("Export in the background") == 1, name
        assert "scope=" not in html.split("<main")[1], name  # no second set of export links
