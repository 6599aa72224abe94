"""Personal access tokens: made, found and revoked here, for the API, the profile page and the
`api_token` command.

A token is 32 random bytes (URL-safe base64) behind a "bw_" prefix. Only its SHA-256 is stored:
with that much entropy a slow hash adds nothing, and a database leak gives away no token. A
token's scope caps what it may do (read < operate < admin); its user's role and grants cap it
again (backupweb.access), so a token never exceeds its user.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.utils import timezone

from users.models import ApiToken

PREFIX = "bw_"
SCOPES = [ApiToken.Scope.READ, ApiToken.Scope.OPERATE, ApiToken.Scope.ADMIN]
# A last-use time is written at most this often per token (not one UPDATE per request).
LAST_USE_PRECISION = dt.timedelta(minutes=1)


def digest_of(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(user, scope: str = ApiToken.Scope.READ, days: int | None = None, name: str = ""):
    """Make a token; returns (row, the token). The token is never stored or shown again."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}")
    if days is not None and days < 1:
        raise ValueError("a token expires after one day at the soonest")
    token = PREFIX + secrets.token_urlsafe(32)
    expires = timezone.now() + dt.timedelta(days=days) if days else None
    row = ApiToken.objects.create(
        user=user,
        name=name[:100],
        prefix=token[:10],
        digest=digest_of(token),
        scope=scope,
        expires_at=expires,
    )
    return row, token


def find(token: str) -> ApiToken | None:
    """The live token row for `token` (not revoked, not expired, user active), or None; notes
    its use."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    row = ApiToken.objects.select_related("user").filter(digest=digest_of(token)).first()
    if row is None or not is_live(row):
        return None
    now = timezone.now()
    if row.last_used_at is None or now - row.last_used_at > LAST_USE_PRECISION:
        ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
        row.last_used_at = now
    return row


def is_live(row: ApiToken) -> bool:
    if row.revoked_at is not None or not row.user.is_active:
        return False
    return row.expires_at is None or row.expires_at > timezone.now()


def revoke(row: ApiToken) -> bool:
    """Revoke a token at once; False when it was revoked already."""
    return bool(
        ApiToken.objects.filter(pk=row.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
    )


def allows(row: ApiToken, scope: str) -> bool:
    """Whether the token's scope reaches `scope` (read < operate < admin)."""
    return SCOPES.index(row.scope) >= SCOPES.index(scope)
