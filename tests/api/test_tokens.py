"""Personal access tokens: shown once, stored hashed, scoped, expiring, revocable, noted when
used, limited per token, and never more than their user."""

from __future__ import annotations

import datetime as dt
import hashlib
import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from backupweb.redis import get_redis
from tests.helpers.api import api_client, make_token, start_of_a_rate_window
from users.models import ApiToken


def test_the_command_prints_a_token_once_and_stores_only_its_hash(world):
    out = io.StringIO()
    call_command("api_token", "oscar", "--scope", "operate", "--expires", "7", stdout=out)
    token = out.getvalue().strip()
    row = ApiToken.objects.get(user__username="oscar", name="command line")
    assert row.digest == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(ApiToken.objects.filter(pk=row.pk).values().get())
    assert row.scope == "operate"
    assert dt.timedelta(days=6) < row.expires_at - timezone.now() <= dt.timedelta(days=7)
    assert api_client(token).get(reverse("api:jobs")).status_code == 200


def test_the_command_refuses_an_unknown_user_and_a_scope_it_does_not_know(world):
    with pytest.raises(CommandError):
        call_command("api_token", "nobody", stdout=io.StringIO())
    with pytest.raises(CommandError):
        call_command("api_token", "oscar", "--scope", "root", stdout=io.StringIO())


def test_a_tokens_use_is_noted(world):
    row = ApiToken.objects.get(user__username="vera")
    assert row.last_used_at is None
    api_client(world["tokens"]["vera"]).get(reverse("api:accounts"))
    row.refresh_from_db()
    assert row.last_used_at is not None


def test_a_read_token_cannot_change_anything_even_for_an_administrator(world):
    token = make_token(world["users"]["alice"], "read")
    client = api_client(token)
    assert client.get(reverse("api:jobs")).status_code == 200
    response = client.post(reverse("api:job-run", args=[world["job"].pk]))
    assert response.status_code == 403
    assert world["job"].runs.count() == 1


def test_an_operate_token_of_an_administrator_does_not_reach_users_or_the_audit_log(world):
    client = api_client(make_token(world["users"]["alice"], "operate"))
    assert client.get(reverse("api:users")).status_code == 403
    assert client.get(reverse("api:audit")).status_code == 403
    assert client.get(reverse("api:runs")).status_code == 200


def test_an_admin_token_never_exceeds_its_viewers_rights(world):
    client = api_client(make_token(world["users"]["vera"], "admin"))
    assert client.get(reverse("api:users")).status_code == 403
    assert client.post(reverse("api:job-run", args=[world["job"].pk])).status_code == 403
    other = reverse("api:account", args=[world["other"].pk])
    assert client.get(other).status_code == 404


def test_a_revoked_grant_ends_a_viewers_token_access_at_once(world):
    client = api_client(world["tokens"]["vera"])
    url = reverse("api:message", args=[world["own"].pk])
    assert client.get(url).status_code == 200
    world["users"]["vera"].profile.accounts.clear()
    assert client.get(url).status_code == 404
    assert client.get(reverse("api:accounts")).json() == []


def test_a_disabled_users_tokens_stop_working(world):
    vera = world["users"]["vera"]
    vera.is_active = False
    vera.save()
    assert api_client(world["tokens"]["vera"]).get(reverse("api:accounts")).status_code == 401


def test_requests_past_the_per_token_limit_are_refused_until_the_next_minute(
    world, settings, use_redis
):
    settings.API_REQUESTS_PER_MINUTE = 3
    get_redis().flushdb()
    start_of_a_rate_window()
    vera, victor = api_client(world["tokens"]["vera"]), api_client(world["tokens"]["victor"])
    answers = [vera.get(reverse("api:accounts")).status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    assert victor.get(reverse("api:accounts")).status_code == 200  # its own count


def test_the_profile_page_shows_a_new_token_once_and_revokes_it(world):
    page = api_client()
    page.force_login(world["users"]["victor"])
    response = page.post(reverse("users:tokens"), {"name": "script", "scope": "read",
                                                   "expires": "30"})  # fmt: skip
    token = response.context["new_token"]
    assert token.encode() in response.content
    assert response["Cache-Control"].startswith("max-age=0")
    assert token.encode() not in page.get(reverse("users:tokens")).content
    assert api_client(token).get(reverse("api:accounts")).status_code == 200
    row = ApiToken.objects.get(user=world["users"]["victor"], name="script")
    page.post(reverse("users:token-revoke", args=[row.pk]))
    assert api_client(token).get(reverse("api:accounts")).status_code == 401


def test_nobody_revokes_another_users_token(world):
    row = ApiToken.objects.get(user__username="vera")
    page = api_client()
    page.force_login(world["users"]["victor"])
    assert page.post(reverse("users:token-revoke", args=[row.pk])).status_code == 404
    assert api_client(world["tokens"]["vera"]).get(reverse("api:accounts")).status_code == 200


def test_an_administrator_revokes_another_users_token_in_the_admin(world):
    row = ApiToken.objects.get(user__username="vera")
    admin_site = api_client()
    admin_site.force_login(world["users"]["alice"])
    listing = admin_site.get(reverse("admin:users_apitoken_changelist"))
    assert listing.status_code == 200 and row.prefix.encode() in listing.content
    assert row.digest.encode() not in listing.content
    detail = admin_site.get(reverse("admin:users_apitoken_change", args=[row.pk]))
    assert detail.status_code == 200 and row.digest.encode() not in detail.content
    admin_site.post(
        reverse("admin:users_apitoken_changelist"),
        {"action": "revoke", "_selected_action": [row.pk]},
    )
    assert api_client(world["tokens"]["vera"]).get(reverse("api:accounts")).status_code == 401
    assert AuditEvent.objects.filter(action="api_token.revoke", actor="alice").count() == 1
