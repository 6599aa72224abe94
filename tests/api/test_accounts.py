"""Accounts over the API: what each user sees, and changes made through the account form."""

from __future__ import annotations

from django.urls import reverse

from accounts.models import Account
from audit.models import AuditEvent
from backupweb.redis import get_redis
from tests.helpers.api import api_client, start_of_a_rate_window


def names(response) -> list[str]:
    return [row["name"] for row in response.json()]


def test_the_account_list_answers_what_each_user_may_see_and_nothing_more(world):
    url = reverse("api:accounts")
    tokens = world["tokens"]
    assert names(api_client(tokens["alice"]).get(url)) == ["granted", "other"]
    assert names(api_client(tokens["oscar"]).get(url)) == ["granted", "other"]
    assert names(api_client(tokens["vera"]).get(url)) == ["granted"]
    assert names(api_client(tokens["victor"]).get(url)) == []


def test_a_viewer_sees_a_granted_accounts_name_but_not_its_settings(world):
    url = reverse("api:account", args=[world["granted"].pk])
    assert api_client(world["tokens"]["vera"]).get(url).json() == {
        "id": world["granted"].pk,
        "name": "granted",
    }
    assert api_client(world["tokens"]["oscar"]).get(url).json()["username"] == "granted"


def test_an_account_never_shows_its_secret_only_that_one_is_stored(world):
    response = api_client(world["tokens"]["oscar"]).get(reverse("api:accounts"))
    assert b"secret-of-" not in response.content
    assert b"secret_encrypted" not in response.content
    assert all(row["has_secret"] for row in response.json())


def test_an_operator_creates_an_account_whose_password_is_stored_encrypted_and_audited(world):
    body = {"name": "new", "host": "mail.example.org", "port": 993, "security": "ssl",
            "username": "me", "password": "hunter2-Secret"}  # fmt: skip
    response = api_client(world["tokens"]["oscar"]).post(
        reverse("api:accounts"), body, content_type="application/json"
    )
    assert response.status_code == 201, response.content
    assert b"hunter2" not in response.content
    account = Account.objects.get(name="new")
    assert account.get_secret() == "hunter2-Secret"
    assert "hunter2" not in account.secret_encrypted
    event = AuditEvent.objects.get(action="account.create")
    assert event.actor == "oscar" and event.details["via"].startswith("api (bw_")
    assert "hunter2" not in str(event.details)


def test_a_change_keeps_the_stored_password_and_the_fields_it_does_not_send(world):
    other = world["other"]
    response = api_client(world["tokens"]["alice"]).patch(
        reverse("api:account", args=[other.pk]), {"notes": "moved"},
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 200, response.content
    other.refresh_from_db()
    assert other.notes == "moved" and other.host == "127.0.0.1"
    assert other.get_secret() == "secret-of-other"
    assert AuditEvent.objects.get(action="account.change").details["fields"] == ["notes"]


def test_the_account_forms_rules_answer_a_bad_change_with_400_and_store_nothing(world):
    other = world["other"]
    response = api_client(world["tokens"]["alice"]).patch(
        reverse("api:account", args=[other.pk]), {"host": "https://x/"},
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 400 and "host" in response.json()
    other.refresh_from_db()
    assert other.host == "127.0.0.1"


def test_deleting_an_account_keeps_its_archive_unless_asked(world):
    client = api_client(world["tokens"]["oscar"])
    response = client.delete(reverse("api:account", args=[world["other"].pk]))
    assert response.status_code == 204
    other = Account.objects.get(pk=world["other"].pk)
    assert other.retired_at is not None and other.secret_encrypted == ""
    assert names(client.get(reverse("api:accounts"))) == ["granted"]
    assert AuditEvent.objects.filter(action="account.delete", actor="oscar").count() == 1


def test_a_connection_test_reports_the_failure_and_is_limited_per_user(world, settings, use_redis):
    settings.CONNECTION_TESTS_PER_MINUTE = 1
    get_redis().flushdb()
    start_of_a_rate_window()
    client = api_client(world["tokens"]["oscar"])
    url = reverse("api:account-test", args=[world["other"].pk])
    first = client.post(url)
    assert first.status_code == 200 and first.json()["ok"] is False
    assert first.json()["error"]  # port 1 on loopback: refused
    world["other"].refresh_from_db()
    assert world["other"].last_test_ok is False
    second = client.post(url)
    assert second.status_code == 429 and "At most 1" in second.json()["detail"]
