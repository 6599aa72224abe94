"""How an API request is let in: a bearer token, its scope, the user's role, a rate limit.

- `BearerTokenAuthentication`: `Authorization: Bearer <token>`; a missing, unknown, expired or
  revoked token is a 401 (the same answer for each, so a guess tells nothing).
- `TokenAccess`: the token's scope (read for GET, operate for changes, admin where a view says
  so) and then the user's role (backupweb.access, the rules the pages use). Objects outside a
  viewer's grants are a 404 from the same access helpers the pages call.
- `TokenThrottle`: requests per token and minute, counted in Redis (backupweb.ratelimit), so
  every web process shares the count.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

import audit
from backupweb import ratelimit
from backupweb.access import check_role
from users import api_tokens
from users.models import ApiToken

REALM = 'Bearer realm="api"'


class BearerTokenAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != b"bearer":
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Send one token: Authorization: Bearer TOKEN.")
        try:
            row = api_tokens.find(parts[1].decode("ascii"))
        except UnicodeDecodeError:
            row = None
        if row is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        return row.user, row

    def authenticate_header(self, request: Request) -> str:
        return REALM  # makes DRF answer 401 (not 403) to a request without a valid token


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "api.auth.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A personal access token."}


class TokenAccess(BasePermission):
    """The token's scope, then the user's role. A view names `roles` (for every method) and
    may name `write_roles` (for changes) and `scope` (the scope every method needs)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken):
            raise exceptions.NotAuthenticated()
        safe = request.method in SAFE_METHODS
        needed = getattr(view, "scope", None) or ("read" if safe else "operate")
        if not api_tokens.allows(token, needed):
            raise exceptions.PermissionDenied(f"This token's scope does not include {needed}.")
        roles = getattr(view, "roles", ())
        if not safe and getattr(view, "write_roles", None):
            roles = view.write_roles
        if roles:
            check_role(request.user, *roles)
        return True


class TokenThrottle(BaseThrottle):
    def allow_request(self, request: Request, view: Any) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken):
            return True
        return ratelimit.allow(f"api-token:{token.pk}", settings.API_REQUESTS_PER_MINUTE, 60)

    def wait(self) -> float:
        return 60.0


def django_request(request: Request) -> HttpRequest:
    """The HttpRequest under a DRF request, for the page views and the audit log. DRF keeps it
    as `_request` and puts the token's user on it (its documented compatibility with
    django.contrib.auth); this is the one place that reaches for it."""
    return request._request


def record(request: Request, action: str, target: Any = None, **details: Any) -> None:
    """Audit like the pages do, noting the token (its prefix, never the token)."""
    token = request.auth
    prefix = token.prefix if isinstance(token, ApiToken) else ""
    via = f"api ({prefix}…)" if prefix else "api"
    audit.record(django_request(request), action, target, via=via, **details)
