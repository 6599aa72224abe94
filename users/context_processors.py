from __future__ import annotations

from django.http import HttpRequest

from backupweb.access import role_of


def role(request: HttpRequest) -> dict[str, str | None]:
    """`user_role` in every template: the navigation shows what the role may use."""
    return {"user_role": role_of(getattr(request, "user", None))}
