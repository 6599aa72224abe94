from __future__ import annotations

from django.http import HttpRequest

from backupweb.access import is_staff_role


def roles(request: HttpRequest) -> dict[str, bool]:
    """What templates may offer: actions for operators and administrators only."""
    user = getattr(request, "user", None)
    return {"can_operate": bool(user and user.is_authenticated and is_staff_role(user))}
