"""The archive over the API: folders, keyset pages, search, and byte-exact downloads."""

from __future__ import annotations

import pytest
from django.urls import reverse

from archive.blobstore import get_store
from audit.models import AuditEvent
from tests.api.conftest import raw_message
from tests.archive.browser_helpers import archive_raws
from tests.helpers.api import api_client


def test_a_viewer_lists_the_folders_and_messages_of_a_granted_account(world):
    client = api_client(world["tokens"]["vera"])
    folders = client.get(reverse("api:archive-folders", args=[world["granted"].pk])).json()
    assert [f["name"] for f in folders] == ["INBOX"]
    page = client.get(reverse("api:archive-messages", args=[folders[0]["id"]])).json()
    assert [m["subject"] for m in page["results"]] == ["Granted news"]


@pytest.mark.postgres
def test_folder_pages_follow_the_cursor_without_gaps_or_repeats(world):
    folder = world["own_folder"]
    archive_raws(folder, [raw_message(f"Page {n}", f"p{n}") for n in range(4)], start=10)
    client = api_client(world["tokens"]["vera"])
    url = reverse("api:archive-messages", args=[folder.pk])
    seen, cursor = [], None
    for _ in range(5):
        params = {"per_page": 2, **({"after": cursor} if cursor else {})}
        page = client.get(url, params).json()
        seen += [m["id"] for m in page["results"]]
        cursor = page["next"]
        if not cursor:
            break
    assert len(seen) == 5 and len(set(seen)) == 5


def test_the_source_download_is_the_archived_bytes_as_an_attachment_and_audited(world):
    own = world["own"]
    response = api_client(world["tokens"]["vera"]).get(reverse("api:message-source", args=[own.pk]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == get_store().get(own.blob_id)
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    event = AuditEvent.objects.get(action="message.download")
    assert event.actor == "vera"


def test_an_attachment_downloads_under_its_name_and_the_message_lists_its_parts(world):
    client = api_client(world["tokens"]["vera"])
    detail = client.get(reverse("api:message", args=[world["own"].pk])).json()
    attachment = next(p for p in detail["parts"] if p["is_attachment"])
    assert attachment["filename"] == "plan.pdf"
    url = reverse("api:message-part", args=[world["own"].pk, attachment["index"]])
    response = client.get(url)
    assert response.status_code == 200 and response.content.startswith(b"%PDF-1.4")
    assert "plan.pdf" in response["Content-Disposition"]


@pytest.mark.postgres
def test_search_uses_the_search_pages_fields_and_stays_inside_the_grants(world):
    vera = api_client(world["tokens"]["vera"])
    alice = api_client(world["tokens"]["alice"])
    url = reverse("api:search")
    assert vera.get(url, {"q": "quarterly figures"}).json()["results"] == []
    assert [m["subject"] for m in vera.get(url, {"subject": "news"}).json()["results"]] == [
        "Granted news"
    ]
    found = alice.get(url, {"q": "quarterly figures"}).json()["results"]
    assert [m["subject"] for m in found] == ["Quarterly figures 4711"]
    assert vera.get(url).status_code == 400


@pytest.mark.postgres
def test_a_viewer_without_grants_who_searches_finds_nothing_on_the_api_and_the_page(world):
    victor = world["users"]["victor"]
    response = api_client(world["tokens"]["victor"]).get(reverse("api:search"), {"q": "news"})
    assert response.status_code == 200 and response.json()["results"] == []
    page = api_client()
    page.force_login(victor)
    assert page.get(reverse("archive:search"), {"q": "news"}).status_code == 200


def test_an_account_export_is_a_zip_of_the_granted_accounts_messages(world):
    response = api_client(world["tokens"]["vera"]).get(
        reverse("api:export"), {"scope": "account", "account": world["granted"].pk}
    )
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    body = b"".join(response.streaming_content)
    assert body.startswith(b"PK") and b"Quarterly" not in body
