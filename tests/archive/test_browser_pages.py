"""Browsing: archive home, folder tree, folder pages with keyset pagination, conversations."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from archive import browse
from archive.models import Folder, Message
from tests.archive.browser_helpers import archive_raws
from tests.helpers.archive import make_folder

# The sort keys and their indexes are written per database: run these on PostgreSQL too.
pytestmark = [pytest.mark.postgres]


def _raw(i: int, subject: str = "", refs: str = "", day: int | None = None) -> bytes:
    date = f"Date: Mon, {1 + (day if day is not None else i) % 28:02d} Jan 2024 10:00:00 +0000\r\n"
    return (
        f"From: sender{i % 7}@example.org\r\nTo: me@example.org\r\nSubject: {subject or f'msg {i}'}"
        f"\r\nMessage-ID: <m{i}@example.org>\r\n{date}{refs}\r\nbody {i}\r\n"
    ).encode()


def test_home_lists_accounts_with_counts_and_sizes(archive_root, folder, admin_client):
    archive_raws(folder, [_raw(i) for i in range(3)])
    html = admin_client.get(reverse("archive:home")).content.decode()
    assert folder.account.name in html and "<td>3</td>" in html


def test_the_folder_tree_shows_hierarchy_counts_and_deleted_folders(
    archive_root, folder, admin_client
):
    child = make_folder(folder.account, "Projects/2024/Q1")
    Folder.objects.filter(pk=child.pk).update(deleted_on_server_at=timezone.now())
    archive_raws(child, [_raw(1)])
    tree = browse.folder_tree(folder.account)
    assert [(n.name, n.depth) for n in tree] == [
        ("INBOX", 0), ("Projects", 0), ("2024", 1), ("Q1", 2)
    ]  # fmt: skip
    html = admin_client.get(reverse("archive:account", args=[folder.account.pk])).content.decode()
    assert "deleted on server" in html and "depth-2" in html and "1 message" in html


def test_keyset_pages_walk_the_whole_folder_forwards_and_backwards_in_every_sort(
    archive_root, folder
):
    archive_raws(folder, [_raw(i, subject=f"s{(i * 7) % 13}", day=i % 5) for i in range(23)])
    Message.objects.filter(uid__in=[3, 4]).update(date=None)
    expected_count = 23
    for sort in browse.SORTS:
        for descending in (True, False):
            seen, page = [], browse.folder_page([folder.pk], sort, descending, per_page=5)
            while True:
                seen += [m.pk for m in page.rows]
                if not page.next_cursor:
                    break
                page = browse.folder_page([folder.pk], sort, descending, after=page.next_cursor,
                                          per_page=5)  # fmt: skip
            assert len(seen) == expected_count == len(set(seen)), (sort, descending)
            last = browse.folder_page([folder.pk], sort, descending, last=True, per_page=5)
            assert [m.pk for m in last.rows] == seen[-len(last.rows) :], (sort, descending)
            back = browse.folder_page([folder.pk], sort, descending, before=last.prev_cursor,
                                      per_page=5)  # fmt: skip
            assert [m.pk for m in back.rows] == seen[-len(last.rows) - 5 : -len(last.rows)]


def test_the_folder_page_lists_flags_attachments_and_deleted_badges(
    archive_root, folder, admin_client
):
    rows = archive_raws(folder, [_raw(i) for i in range(3)], flags=("\\Flagged",))
    Message.objects.filter(pk=rows[0].pk).update(deleted_on_server_at=timezone.now())
    html = admin_client.get(reverse("archive:folder", args=[folder.pk]) + "?sort=subject&dir=asc")
    text = html.content.decode()
    assert "Flagged</span>" in text and "deleted on server" in text and "msg 2" in text


def test_a_conversation_gathers_replies_across_folders(archive_root, folder, admin_client):
    sent = make_folder(folder.account, "Sent")
    [root] = archive_raws(folder, [_raw(1, "plan")])
    [reply] = archive_raws(sent, [_raw(2, "Re: plan", "In-Reply-To: <m1@example.org>\r\n")])
    archive_raws(
        folder,
        [_raw(3, "Re: Re: plan", "References: <m1@example.org> <m2@example.org>\r\n")],
        start=5,
    )
    archive_raws(folder, [_raw(4, "unrelated")], start=9)
    html = admin_client.get(reverse("archive:conversation", args=[root.pk])).content.decode()
    assert "3 messages" in html and "Re: Re: plan" in html and "unrelated" not in html
    from archive.threads import conversation

    assert {m.subject for m in conversation(reply)} == {"plan", "Re: plan", "Re: Re: plan"}
