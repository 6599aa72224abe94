"""Users, roles and grants: managed by administrators only, every change audit-logged."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from backupweb import access
from tests.helpers.security import PASSWORD
from users.models import Profile


def test_roles_come_from_the_profile_and_superusers_are_administrators(cast):
    assert access.role_of(cast.alice) == access.ADMINISTRATOR
    assert access.role_of(cast.oscar) == access.OPERATOR
    assert access.role_of(cast.vera) == access.VIEWER
    plain = get_user_model().objects.create_user("nobody", password=PASSWORD)
    assert access.role_of(plain) == access.VIEWER  # no profile: the least privilege


def test_viewers_see_only_their_granted_accounts(cast):
    assert list(access.accounts_visible_to(cast.vera)) == [cast.granted]
    assert list(access.accounts_visible_to(cast.victor)) == []
    assert set(access.accounts_visible_to(cast.oscar)) == {cast.granted, cast.other}


def test_an_administrator_creates_a_viewer_with_grants(cast):
    client = cast.client(cast.alice)
    response = client.post(
        reverse("users:new"),
        {
            "username": "newbie",
            "email": "newbie@example.org",
            "is_active": "on",
            "role": "viewer",
            "accounts": [cast.other.pk],
            "password1": "A-Quite-Long-Passphrase-3",
            "password2": "A-Quite-Long-Passphrase-3",
        },
    )
    assert response.status_code == 302, response.content.decode()
    newbie = get_user_model().objects.get(username="newbie")
    assert not newbie.is_superuser and newbie.check_password("A-Quite-Long-Passphrase-3")
    assert list(newbie.profile.accounts.all()) == [cast.other]
    event = AuditEvent.objects.get(action="user.create")
    assert (event.actor, event.target) == ("alice", "newbie")
    assert event.details["grants"] == [cast.other.pk]
    assert "Passphrase" not in str(event.details)


def test_a_weak_password_is_refused_by_the_validators(cast):
    client = cast.client(cast.alice)
    response = client.post(
        reverse("users:new"),
        {"username": "weak", "role": "viewer", "password1": "12345678", "password2": "12345678"},
    )
    assert response.status_code == 200
    assert not get_user_model().objects.filter(username="weak").exists()


def test_changing_role_and_grants_is_audited_and_syncs_the_superuser_flag(cast):
    client = cast.client(cast.alice)
    data = {"username": "vera", "email": "vera@example.org", "is_active": "on"}
    client.post(reverse("users:edit", args=[cast.vera.pk]), {**data, "role": "viewer"})
    grants = AuditEvent.objects.get(action="user.grants")
    assert grants.details == {"granted": [], "revoked": [cast.granted.pk]}
    client.post(reverse("users:edit", args=[cast.vera.pk]), {**data, "role": "administrator"})
    cast.vera.refresh_from_db()
    assert cast.vera.is_superuser and cast.vera.is_staff
    assert Profile.objects.get(user=cast.vera).role == "administrator"
    assert AuditEvent.objects.filter(action="user.change", target="vera").exists()


def test_an_administrator_cannot_demote_themselves(cast):
    client = cast.client(cast.alice)
    data = {"username": "alice", "email": "a@example.org", "is_active": "on", "role": "viewer"}
    client.post(reverse("users:edit", args=[cast.alice.pk]), data)
    cast.alice.refresh_from_db()
    assert cast.alice.is_superuser and cast.alice.is_active


def test_operators_and_viewers_cannot_manage_users(cast):
    for user in (cast.oscar, cast.vera):
        client = cast.client(user)
        assert client.get(reverse("users:list")).status_code == 403
        response = client.post(reverse("users:delete", args=[cast.victor.pk]))
        assert response.status_code == 403
        assert b"victor" not in response.content
    assert get_user_model().objects.filter(username="victor").exists()


def test_a_new_password_set_by_an_administrator_ends_that_users_sessions(cast):
    victims = Client()
    victims.post(reverse("login"), {"username": "vera", "password": PASSWORD})
    assert victims.get(reverse("archive:home")).status_code == 200
    admin = cast.client(cast.alice)
    new = {"new_password1": "Another-Long-Phrase-9", "new_password2": "Another-Long-Phrase-9"}
    assert admin.post(reverse("users:password", args=[cast.vera.pk]), new).status_code == 302
    response = victims.get(reverse("archive:home"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert AuditEvent.objects.filter(action="user.set_password", target="vera").exists()


def test_changing_ones_own_password_signs_out_other_sessions_but_not_this_one(cast):
    laptop, phone = Client(), Client()
    for client in (laptop, phone):
        client.post(reverse("login"), {"username": "oscar", "password": PASSWORD})
        assert client.get(reverse("accounts:list")).status_code == 200
    response = laptop.post(
        reverse("users:my-password"),
        {
            "old_password": PASSWORD,
            "new_password1": "Brand-New-Phrase-42",
            "new_password2": "Brand-New-Phrase-42",
        },
    )
    assert response.status_code == 302
    assert laptop.get(reverse("accounts:list")).status_code == 200
    assert phone.get(reverse("accounts:list")).status_code == 302
    assert AuditEvent.objects.filter(action="user.change_own_password", actor="oscar").exists()


def test_deleting_a_user_keeps_their_audit_trail(cast):
    client = cast.client(cast.alice)
    client.post(reverse("users:delete", args=[cast.victor.pk]))
    assert not get_user_model().objects.filter(username="victor").exists()
    assert AuditEvent.objects.filter(action="user.delete", target="victor").exists()


def test_sessions_expire_after_the_configured_age(cast, settings):
    settings.SESSION_COOKIE_AGE = 600
    client = Client()
    client.post(reverse("login"), {"username": "vera", "password": PASSWORD})
    assert client.session.get_expiry_age() == 600
    assert client.cookies["sessionid"]["max-age"] == 600
