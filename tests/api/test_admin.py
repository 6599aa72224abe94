"""Users, grants and the audit log over the API (administrators with an admin-scope token)."""

from __future__ import annotations

from django.urls import reverse

from audit.models import AuditEvent
from tests.helpers.api import api_client


def test_an_administrator_grants_an_account_and_the_viewer_then_sees_it(world):
    victor = world["users"]["victor"]
    url = reverse("api:user-grants", args=[victor.pk])
    alice = api_client(world["tokens"]["alice"])
    response = alice.put(url, {"accounts": [world["other"].pk]}, content_type="application/json")
    assert response.status_code == 200 and response.json() == {"accounts": [world["other"].pk]}
    seen = api_client(world["tokens"]["victor"]).get(reverse("api:accounts")).json()
    assert [a["name"] for a in seen] == ["other"]
    event = AuditEvent.objects.get(action="user.grants")
    assert event.actor == "alice" and event.details["granted"] == [world["other"].pk]


def test_granting_an_account_that_does_not_exist_changes_nothing(world):
    victor = world["users"]["victor"]
    alice = api_client(world["tokens"]["alice"])
    url = reverse("api:user-grants", args=[victor.pk])
    response = alice.put(url, {"accounts": [999999]}, content_type="application/json")
    assert response.status_code == 400
    assert alice.get(url).json() == {"accounts": []}


def test_the_user_list_names_each_role_and_grant(world):
    users = api_client(world["tokens"]["alice"]).get(reverse("api:users")).json()
    rows = {u["username"]: (u["role"], u["accounts"]) for u in users}
    assert rows == {
        "alice": ("administrator", []),
        "oscar": ("operator", []),
        "vera": ("viewer", [world["granted"].pk]),
        "victor": ("viewer", []),
    }


def test_the_audit_log_reads_newest_first_with_the_pages_filters(world):
    api_client(world["tokens"]["vera"]).get(reverse("api:message-source", args=[world["own"].pk]))
    alice = api_client(world["tokens"]["alice"])
    events = alice.get(reverse("api:audit"), {"actor": "vera"}).json()
    assert [e["action"] for e in events] == ["message.download"]
    everything = alice.get(reverse("api:audit")).json()
    ids = [e["id"] for e in everything]
    assert ids == sorted(ids, reverse=True)
    older = alice.get(reverse("api:audit"), {"before": ids[0]}).json()
    assert [e["id"] for e in older] == ids[1:]


def test_an_administrator_makes_a_viewer_an_operator_and_their_token_follows(world):
    victor = world["users"]["victor"]
    client = api_client(world["tokens"]["victor"])
    assert client.get(reverse("api:jobs")).status_code == 403
    response = api_client(world["tokens"]["alice"]).patch(
        reverse("api:user", args=[victor.pk]), {"role": "operator"},
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 200 and response.json()["role"] == "operator"
    assert client.get(reverse("api:jobs")).status_code == 200  # a read token reads jobs now
    assert AuditEvent.objects.get(action="user.change").details["role"] == "operator"


def test_an_administrator_cannot_demote_or_disable_themselves_over_the_api(world):
    alice = world["users"]["alice"]
    response = api_client(world["tokens"]["alice"]).patch(
        reverse("api:user", args=[alice.pk]), {"role": "viewer", "is_active": False},
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 200
    alice.refresh_from_db()
    assert alice.is_active and alice.profile.role == "administrator"
