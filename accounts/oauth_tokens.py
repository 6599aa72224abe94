"""An account's OAuth2 tokens: stored encrypted, refreshed before expiry, and on a refusal.

The refresh token and the cached access token are Fernet tokens bound to the account row (like
the password). `access_token` returns the cached token while it has more than
OAUTH_REFRESH_MARGIN_SECONDS left; otherwise, or when the caller says the server just refused
it, it refreshes under a row lock, so parallel connections of one backup (and several workers)
refresh once and never use a refresh token another process already rotated away.

A refresh token the provider refuses (invalid_grant: revoked, expired, password changed) marks
the account "needs re-authorisation" and raises `errors.ReauthorizationNeeded`, an
authentication failure: the run fails and the job's notification goes out as for a wrong
password. Nothing here logs or raises a token.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts import oauth, oauth_clients, secrets
from accounts.models import Account
from mail import errors

log = logging.getLogger("backupweb.audit")

REFRESH_FIELD = "oauth_refresh"
ACCESS_FIELD = "oauth_access"
TOKEN_FIELDS = [
    "oauth_provider",
    "oauth_refresh_encrypted",
    "oauth_access_encrypted",
    "oauth_access_expires_at",
    "oauth_signed_in_at",
    "needs_reauth",
    "reauth_reason",
]


def _encrypt(account: Account, value: str, name: str) -> str:
    return secrets.encrypt(value, owner=str(account.uid), field=name)


def _decrypt(account: Account, token: str, name: str) -> str:
    return secrets.decrypt(token, owner=str(account.uid), field=name)


def _set_access(account: Account, tokens: oauth.Tokens) -> None:
    account.oauth_access_encrypted = _encrypt(account, tokens.access_token, ACCESS_FIELD)
    account.oauth_access_expires_at = dt.datetime.fromtimestamp(tokens.expires_at, dt.UTC)
    if tokens.refresh_token:  # rotated: the old one is dead from now on
        account.oauth_refresh_encrypted = _encrypt(account, tokens.refresh_token, REFRESH_FIELD)


def save_sign_in(account: Account, provider: oauth.Provider, tokens: oauth.Tokens, who: str):
    """Store a fresh sign-in: tokens, the provider, and the user name from the identity."""
    if not tokens.refresh_token:
        raise oauth.OAuthError(
            f"{provider.label} returned no refresh token, so backups would stop within the "
            "hour; allow offline access (for a generic provider, the offline_access scope)."
        )
    account.auth_method = Account.AuthMethod.OAUTH2
    account.oauth_provider = provider.key
    _set_access(account, tokens)
    account.oauth_signed_in_at = timezone.now()
    account.needs_reauth, account.reauth_reason = False, ""
    if who:
        account.username = who
    account.save(update_fields=[*TOKEN_FIELDS, "auth_method", "username", "updated_at"])
    log.info(
        "OAuth2 sign-in stored for account %r with %s as %s",
        account.name,
        provider.label,
        account.username,
        extra={"account_id": account.pk},
    )


def finish_sign_in(
    account: Account, provider: oauth.Provider, tokens: oauth.Tokens, nonce: str = ""
) -> None:
    """After the browser or device flow: find who signed in, then store the tokens."""
    save_sign_in(account, provider, tokens, oauth.identity(provider, tokens, nonce))


def _cached(account: Account) -> str:
    """The cached access token if it is good for longer than the margin, else ""."""
    expires = account.oauth_access_expires_at
    margin = dt.timedelta(seconds=settings.OAUTH_REFRESH_MARGIN_SECONDS)
    if not account.oauth_access_encrypted or expires is None or expires - margin <= timezone.now():
        return ""
    return _decrypt(account, account.oauth_access_encrypted, ACCESS_FIELD)


def access_token(account: Account, failed: str = "") -> str:
    """A usable access token; `failed` is one the mail server just refused (refresh it)."""
    if account.needs_reauth:
        raise _reauth_error(account, account.reauth_reason)
    if not failed:
        cached = _cached(account)
        if cached:
            return cached
    if account.pk is None:
        return _unsaved_access_token(account, failed)
    refused = ""
    with transaction.atomic():
        row = Account.objects.select_for_update().get(pk=account.pk)
        cached = _cached(row) if not row.needs_reauth else ""
        if cached and cached != failed:  # another connection refreshed it meanwhile
            token = cached
        else:
            try:
                token = _refresh(row)
            except errors.ReauthorizationNeeded as exc:
                refused = str(exc)
    if refused:  # recorded outside the transaction, which the exception would roll back
        mark_needs_reauth(account, refused)
        raise errors.ReauthorizationNeeded(refused)
    for name in TOKEN_FIELDS:
        setattr(account, name, getattr(row, name))
    return token


def _unsaved_access_token(account: Account, failed: str) -> str:
    """A form test: the stored account (same uid) refreshes, so a rotated refresh token is kept."""
    stored = Account.objects.filter(uid=account.uid).first()
    if stored is None or stored.oauth_refresh_encrypted != account.oauth_refresh_encrypted:
        return _refresh(account)  # nothing stored to keep in step
    token = access_token(stored, failed=failed)
    for name in TOKEN_FIELDS:
        setattr(account, name, getattr(stored, name))
    return token


def _refresh(account: Account) -> str:
    provider = oauth_clients.get(account.oauth_provider)
    if provider is None:
        raise errors.SecretUnavailable(
            f"No OAuth client is configured for {account.oauth_provider or 'this account'}; "
            "an admin sets it in the environment or under Admin → OAuth clients."
        )
    if not account.oauth_refresh_encrypted:
        raise errors.AuthenticationFailed(
            f"{account.name or 'This account'} is not signed in with OAuth2 yet: save it, then "
            "use “Sign in” on the account page."
        )
    try:
        refresh_token = _decrypt(account, account.oauth_refresh_encrypted, REFRESH_FIELD)
        tokens = oauth.refresh(provider, refresh_token)
    except secrets.SecretError as exc:
        raise errors.SecretUnavailable(str(exc)) from None
    except oauth.InvalidGrant as exc:
        raise _reauth_error(account, str(exc)) from None
    except oauth.OAuthError as exc:
        if exc.code == "unreachable" or exc.code.startswith("http_5"):
            raise errors.TransientError(f"Cannot refresh the OAuth2 access token: {exc}") from None
        raise errors.AuthenticationFailed(
            f"Cannot refresh the OAuth2 access token: {exc}"
        ) from None
    _set_access(account, tokens)
    if account.pk is not None:
        fields = ["oauth_access_encrypted", "oauth_access_expires_at", "oauth_refresh_encrypted"]
        account.save(update_fields=[*fields, "updated_at"])
    return tokens.access_token


def _reauth_error(account: Account, reason: str) -> errors.ReauthorizationNeeded:
    return errors.ReauthorizationNeeded(
        f"The OAuth2 sign-in of {account.name} is no longer accepted ({reason}); "
        "open the account page and sign in again."
    )


def mark_needs_reauth(account: Account, reason: str) -> None:
    """The admin must sign in again; everything else about the account stays as it is."""
    account.needs_reauth, account.reauth_reason = True, reason[:500]
    account.oauth_access_encrypted, account.oauth_access_expires_at = "", None
    if account.pk is None:
        return
    Account.objects.filter(pk=account.pk).update(
        needs_reauth=True,
        reauth_reason=account.reauth_reason,
        oauth_access_encrypted="",
        oauth_access_expires_at=None,
    )
    log.warning(
        "account %r needs OAuth2 re-authorisation: %s",
        account.name,
        reason,
        extra={"account_id": account.pk},
    )


def sign_out(account: Account) -> bool:
    """Revoke the refresh token at the provider (where it can) and forget both tokens."""
    revoked = False
    provider = oauth_clients.get(account.oauth_provider)
    if provider is not None and account.oauth_refresh_encrypted:
        try:
            token = _decrypt(account, account.oauth_refresh_encrypted, REFRESH_FIELD)
            revoked = oauth.revoke(provider, token)
        except (oauth.OAuthError, secrets.SecretError) as exc:
            log.warning("OAuth2 revocation failed: %s", exc, extra={"account_id": account.pk})
    account.oauth_refresh_encrypted = account.oauth_access_encrypted = ""
    account.oauth_access_expires_at = None
    account.save(update_fields=[*TOKEN_FIELDS, "updated_at"])
    log.info(
        "OAuth2 sign-in removed for account %r", account.name, extra={"account_id": account.pk}
    )
    return revoked
