"""Who may see and do what: the one access module every view goes through.

Roles (users.roles): administrators do everything; operators manage accounts, jobs,
imports and restores but not users or the audit log; viewers browse, search and download the
archives of the accounts granted to them, and nothing else.

- `require_role(...)` guards a view by role: anonymous visitors are sent to the login page, a
  signed-in user without the role gets a bare 403 (no content).
- `accounts_visible_to(user)` is the queryset of accounts a user may see.
- `get_object_for_user(user, queryset, pk, via=...)` fetches one object or raises 404, for an
  object that does not exist and one outside the user's grants alike (healthchecks'
  `_get_check_for_user`): a guessed URL tells nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest

from users.roles import ADMINISTRATOR, OPERATOR, STAFF, VIEWER

__all__ = ["ADMINISTRATOR", "OPERATOR", "STAFF", "VIEWER"]  # the roles, for the views


def role_of(user: Any) -> str | None:
    """The user's role; None for anonymous or inactive users. Superusers are administrators."""
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    cached = getattr(user, "_backupweb_role", None)
    if cached is not None:
        return cached
    if user.is_superuser:
        role = ADMINISTRATOR
    else:
        from users.models import Profile

        profile = Profile.objects.filter(user_id=user.pk).only("role").first()
        role = profile.role if profile else VIEWER  # no profile: the least privilege
    user._backupweb_role = role
    return role


def is_administrator(user: Any) -> bool:
    return role_of(user) == ADMINISTRATOR


def is_staff_role(user: Any) -> bool:
    """Administrators and operators: may see every account and manage accounts and jobs."""
    return role_of(user) in STAFF


def check_role(user: Any, *roles: str) -> None:
    """Raise PermissionDenied unless the (signed-in) user has one of `roles`."""
    if role_of(user) not in roles:
        raise PermissionDenied


def require_role(*roles: str) -> Callable:
    """View decorator: only these roles; anonymous visitors go to the login page."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            check_role(request.user, *roles)
            return view(request, *args, **kwargs)

        wrapper.required_roles = roles  # read by the URL-walking test
        return wrapper

    return decorator


administrator_required = require_role(ADMINISTRATOR)
staff_required = require_role(ADMINISTRATOR, OPERATOR)
any_role_required = require_role(ADMINISTRATOR, OPERATOR, VIEWER)


def accounts_visible_to(user: Any, queryset: QuerySet | None = None) -> QuerySet:
    """The accounts `user` may see: all for administrators and operators, the granted ones
    for viewers, none for anyone else."""
    from accounts.models import Account

    queryset = Account.objects.all() if queryset is None else queryset
    role = role_of(user)
    if role in STAFF:
        return queryset
    if role == VIEWER:
        return queryset.filter(viewer_profiles__user_id=user.pk)
    return queryset.none()


def filter_for_user(user: Any, queryset: QuerySet, via: str = "account") -> QuerySet:
    """`queryset` narrowed to objects whose account (reached through `via`, a lookup path such
    as "folder__account"; "" for accounts themselves) the user may see."""
    role = role_of(user)
    if role in STAFF:
        return queryset
    if role != VIEWER:
        return queryset.none()
    if not via:
        return accounts_visible_to(user, queryset)
    return queryset.filter(**{f"{via}__viewer_profiles__user_id": user.pk})


def get_object_for_user(
    user: Any, queryset: QuerySet, pk: Any = None, *, via: str = "account", **lookup: Any
) -> Model:
    """One object the user may see, or 404 (the same 404 whether it exists or not)."""
    if pk is not None:
        lookup["pk"] = pk
    try:
        return filter_for_user(user, queryset, via).get(**lookup)
    except (queryset.model.DoesNotExist, ValueError, TypeError):
        raise Http404(f"No {queryset.model._meta.verbose_name} matches the given query.") from None


def get_account_for_user(user: Any, pk: Any, queryset: QuerySet | None = None) -> Model:
    from accounts.models import Account

    qs = Account.objects.all() if queryset is None else queryset
    return get_object_for_user(user, qs, pk, via="")
