"""What the user pages do, kept out of the views: roles, grants, passwords and two-factor
devices, each change audit-logged (never a password or a TOTP secret)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

import audit
from users.models import Profile
from users.roles import Role


def profile_of(user: AbstractBaseUser) -> Profile:
    profile, _ = Profile.objects.get_or_create(
        user=user, defaults={"role": Role.ADMINISTRATOR if user.is_superuser else Role.VIEWER}
    )
    return profile


def apply_role(user: AbstractBaseUser, role: str) -> None:
    """Administrators are Django superusers and staff (the admin site); nobody else is."""
    admin = role == Role.ADMINISTRATOR
    user.is_superuser = user.is_staff = admin
    user._backupweb_role = None


@transaction.atomic
def save_user(request, user, role: str, accounts, *, created: bool, changed: list[str]) -> None:
    """Store the user, their role and grants (grants only count for viewers), and audit it."""
    apply_role(user, role)
    user.save()
    profile = profile_of(user)
    before_role = profile.role
    before = set(profile.accounts.values_list("pk", flat=True))
    profile.role = role
    profile.save()
    profile.accounts.set(accounts)
    after = set(profile.accounts.values_list("pk", flat=True))
    if created:
        audit.record(request, "user.create", user, role=role, grants=sorted(after))
        return
    if changed or before_role != role:
        audit.record(request, "user.change", user, fields=changed, role=role, was=before_role)
    if before != after:
        audit.record(
            request,
            "user.grants",
            user,
            granted=sorted(after - before),
            revoked=sorted(before - after),
        )


def set_password(request, user, password: str) -> None:
    """A new password ends every session of that user (Django's session auth hash)."""
    user.set_password(password)
    user.save(update_fields=["password"])
    audit.record(request, "user.set_password", user)


def reset_two_factor(request, user) -> int:
    count, _ = TOTPDevice.objects.filter(user=user).delete()
    audit.record(request, "user.reset_2fa", user, devices=count)
    return count


def delete_user(request, user) -> None:
    audit.record(request, "user.delete", user, username=user.get_username())
    user.delete()


def has_two_factor(user) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()
