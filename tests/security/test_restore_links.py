"""The archive offers "restore to a server" where an operator reads mail, never to viewers."""

from __future__ import annotations

from django.urls import reverse

from archive.models import Folder
from tests.archive.browser_helpers import archive_raws
from tests.corpus import pick

RESTORE = reverse("jobs:restore-new")


def archived_message(cast, archive_root):
    folder = Folder.objects.create(account=cast.granted, name="Projects/2026", raw_name="P")
    raw = pick(tag="crlf", without=("nul-bytes",))[0].read()
    return archive_raws(folder, [raw])[0]


def test_operators_can_restore_a_message_a_folder_and_a_search_result(cast, archive_root):
    message = archived_message(cast, archive_root)
    client = cast.client(cast.oscar)
    page = client.get(reverse("archive:message", args=[message.pk])).content.decode()
    link = f"{RESTORE}?account={cast.granted.pk}&amp;message={message.pk}"
    assert link in page
    form = client.get(link.replace("&amp;", "&")).content.decode()
    assert f'value="{message.pk}"' in form  # the selection arrives in the restore form

    folder_page = client.get(reverse("archive:folder", args=[message.folder_id])).content
    assert b"folder=Projects/2026" in folder_page

    words = message.subject.split()[0]
    results = client.get(reverse("archive:search"), {"q": words, "account": cast.granted.pk})
    assert f"{RESTORE}?account={cast.granted.pk}&amp;q=".encode() in results.content


def test_viewers_see_no_restore_links(cast, archive_root):
    message = archived_message(cast, archive_root)
    page = cast.client(cast.vera).get(reverse("archive:message", args=[message.pk]))
    assert page.status_code == 200
    assert RESTORE.encode() not in page.content
