"""Which OAuth2 providers this installation can sign in with, and with which client credentials.

Three providers: Google, Microsoft (a tenant, or "common") and one generic OAuth2 provider with
its own endpoints. Credentials come from an `OAuthClient` row (Django admin) when there is one,
else from the environment (OAUTH_* settings). Gmail accounts use Google, Outlook / Microsoft 365
accounts use Microsoft, every other preset the generic provider.
"""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse

from accounts.oauth import Provider
from accounts.oauth_models import OAuthClient

GOOGLE_SCOPES = ("https://mail.google.com/", "openid", "email")
MICROSOFT_SCOPES = (
    "https://outlook.office.com/IMAP.AccessAsUser.All",
    "https://outlook.office.com/POP.AccessAsUser.All",
    "offline_access",
    "openid",
    "email",
)
PRESET_PROVIDER = {"gmail": "google", "outlook": "microsoft"}


def provider_key_for(preset: str) -> str:
    return PRESET_PROVIDER.get(preset or "", "generic")


def redirect_url() -> str:
    """The one redirect URI to register with every provider."""
    if settings.OAUTH_REDIRECT_URL:
        return settings.OAUTH_REDIRECT_URL
    return settings.SITE_URL.rstrip("/") + reverse("accounts:oauth-callback")


def _from_environment(key: str) -> dict[str, str]:
    prefix = f"OAUTH_{key.upper()}_"
    names = ["client_id", "client_secret", "tenant", "name"] + [
        f"{n}_url" for n in ("authorization", "token", "device", "revocation", "userinfo")
    ]
    values = {n: getattr(settings, prefix + n.upper(), "") for n in names}
    values["scopes"] = getattr(settings, prefix + "SCOPES", "")
    return values


def _from_row(row: OAuthClient) -> dict[str, str]:
    values = {
        n: getattr(row, n)
        for n in ("client_id", "tenant", "name", "scopes")
        + tuple(f"{n}_url" for n in ("authorization", "token", "device", "revocation", "userinfo"))
    }
    values["client_secret"] = row.get_client_secret()
    return values


def _google(v: dict[str, str]) -> Provider:
    return Provider(
        key="google",
        label="Google",
        client_id=v["client_id"],
        client_secret=v["client_secret"],
        authorization_url=v["authorization_url"] or "https://accounts.google.com/o/oauth2/v2/auth",
        token_url=v["token_url"] or "https://oauth2.googleapis.com/token",
        # Google's device flow refuses the Gmail scope, so only an explicit endpoint enables it.
        device_url=v["device_url"],
        revocation_url=v["revocation_url"] or "https://oauth2.googleapis.com/revoke",
        userinfo_url=v["userinfo_url"] or "https://openidconnect.googleapis.com/v1/userinfo",
        scopes=tuple(v["scopes"].split()) or GOOGLE_SCOPES,
        # A refresh token is only returned for offline access, and again only on consent.
        extra_params={"access_type": "offline", "prompt": "consent"},
    )


def _microsoft(v: dict[str, str]) -> Provider:
    base = f"https://login.microsoftonline.com/{v['tenant'] or 'common'}/oauth2/v2.0"
    return Provider(
        key="microsoft",
        label="Microsoft",
        client_id=v["client_id"],
        client_secret=v["client_secret"],
        authorization_url=v["authorization_url"] or f"{base}/authorize",
        token_url=v["token_url"] or f"{base}/token",
        device_url=v["device_url"] or f"{base}/devicecode",
        revocation_url=v["revocation_url"],  # Microsoft has no RFC 7009 endpoint
        userinfo_url=v["userinfo_url"],  # the id_token names the user
        scopes=tuple(v["scopes"].split()) or MICROSOFT_SCOPES,
        extra_params={"prompt": "select_account"},
    )


def _generic(v: dict[str, str]) -> Provider | None:
    if not (v["authorization_url"] or v["device_url"]) or not v["token_url"]:
        return None
    return Provider(
        key="generic",
        label=v["name"] or "OAuth2 provider",
        client_id=v["client_id"],
        client_secret=v["client_secret"],
        authorization_url=v["authorization_url"],
        token_url=v["token_url"],
        device_url=v["device_url"],
        revocation_url=v["revocation_url"],
        userinfo_url=v["userinfo_url"],
        scopes=tuple(v["scopes"].split()),
    )


BUILDERS = {"google": _google, "microsoft": _microsoft, "generic": _generic}


def get(key: str) -> Provider | None:
    """The provider with its credentials, or None when this installation has no client for it."""
    if key not in BUILDERS:
        return None
    row = OAuthClient.objects.filter(provider=key).first()
    values = _from_row(row) if row is not None else _from_environment(key)
    if not values["client_id"]:
        return None
    return BUILDERS[key](values)


def for_preset(preset: str) -> Provider | None:
    return get(provider_key_for(preset))


def sign_in_labels() -> dict[str, str]:
    """Preset key -> provider label, for the presets that can sign in here (the form's script)."""
    from accounts import presets

    labels = {}
    for preset in presets.PRESETS:
        provider = for_preset(preset.key)
        if provider is not None and provider.authorization_url:
            labels[preset.key] = provider.label
    return labels
