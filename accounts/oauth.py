"""OAuth2 for mail accounts, the protocol part: PKCE, authorization URLs, token requests.

Plain `urllib`: the flows are a handful of form POSTs returning JSON (RFC 6749, 7636 PKCE,
8628 device authorization, 7009 revocation), and the library choice would add more than it
saves. No Django here: `accounts/oauth_clients.py` builds a `Provider` from the settings,
`accounts/oauth_tokens.py` stores what these functions return.

The id_token's claims are read without checking its signature: it comes straight from the token
endpoint over TLS, which OpenID Connect Core 3.1.3.7 accepts in place of the signature. It is
only used to fill in the user name; the mail server decides what the access token may open.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from urllib.parse import urlencode

from mail import outbound

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
TIMEOUT = 20  # seconds per request to the provider
MAX_REPLY = 1024 * 1024  # a token reply is a few KB; more is not a provider we want to parse


class OAuthError(Exception):
    """The provider refused, or could not be reached; the text never holds a token."""

    def __init__(self, message: str, code: str = ""):
        super().__init__(message)
        self.code = code  # the RFC 6749 error code, e.g. "invalid_grant"


class InvalidGrant(OAuthError):
    """The refresh token (or code) was revoked, expired or never valid: sign in again."""


class AuthorizationPending(OAuthError):
    """Device flow: the user has not approved yet; ask again after `interval` seconds."""

    def __init__(self, message: str, code: str = "", slow_down: bool = False):
        super().__init__(message, code)
        self.slow_down = slow_down


@dataclass(frozen=True)
class Provider:
    key: str  # "google", "microsoft" or "generic"
    label: str  # "Google", shown as "Sign in with Google"
    client_id: str
    client_secret: str
    authorization_url: str
    token_url: str
    scopes: tuple[str, ...]
    device_url: str = ""  # empty: no device-code flow (Google refuses it for mail scopes)
    revocation_url: str = ""
    userinfo_url: str = ""
    extra_params: dict[str, str] = field(default_factory=dict)  # added to the authorization URL

    @property
    def supports_device_flow(self) -> bool:
        return bool(self.device_url)

    def __repr__(self) -> str:  # never print the client secret
        return f"Provider({self.key!r}, client_id={self.client_id!r})"


@dataclass
class Tokens:
    access_token: str
    expires_at: float  # epoch seconds
    refresh_token: str = ""  # empty when the provider kept the old one
    id_token: str = ""
    scope: str = ""

    def __repr__(self) -> str:
        refresh = "yes" if self.refresh_token else "no"
        return f"Tokens(expires_at={self.expires_at:.0f}, refresh={refresh})"


@dataclass
class AuthorizationRequest:
    """What the browser flow keeps between leaving for the provider and coming back."""

    url: str
    state: str
    code_verifier: str
    nonce: str


@dataclass
class DeviceAuthorization:
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    expires_at: float
    interval: int


# ---------------------------------------------------------------------------------------------
# The browser flow: authorization code with PKCE


def pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorization_request(
    provider: Provider, redirect_uri: str, login_hint: str = ""
) -> AuthorizationRequest:
    """The URL to send the browser to, with a fresh state, PKCE verifier and nonce."""
    state, verifier, nonce = (secrets.token_urlsafe(32) for _ in range(3))
    params = {
        "response_type": "code",
        "client_id": provider.client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(provider.scopes),
        "state": state,
        "nonce": nonce,
        "code_challenge": pkce_challenge(verifier),
        "code_challenge_method": "S256",
        **provider.extra_params,
    }
    if login_hint:
        params["login_hint"] = login_hint
    separator = "&" if "?" in provider.authorization_url else "?"
    url = f"{provider.authorization_url}{separator}{urlencode(params)}"
    return AuthorizationRequest(url, state, verifier, nonce)


def exchange_code(provider: Provider, code: str, redirect_uri: str, verifier: str) -> Tokens:
    return _token_request(
        provider,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
    )


def refresh(provider: Provider, refresh_token: str) -> Tokens:
    """A new access token; raises InvalidGrant when the refresh token is no longer valid."""
    return _token_request(provider, {"grant_type": "refresh_token", "refresh_token": refresh_token})


# ---------------------------------------------------------------------------------------------
# The device flow (RFC 8628), for servers the browser cannot reach


def start_device_flow(provider: Provider) -> DeviceAuthorization:
    if not provider.device_url:
        raise OAuthError(f"{provider.label} does not offer sign-in with a device code.")
    data = {"client_id": provider.client_id, "scope": " ".join(provider.scopes)}
    reply = _post(provider.device_url, data, provider.label)
    try:
        uri = reply.get("verification_uri") or reply["verification_url"]  # Google's older name
        return DeviceAuthorization(
            device_code=reply["device_code"],
            user_code=reply["user_code"],
            verification_uri=uri,
            verification_uri_complete=reply.get("verification_uri_complete", ""),
            expires_at=time.time() + int(reply.get("expires_in", 900)),
            interval=max(1, int(reply.get("interval", 5))),
        )
    except (KeyError, TypeError, ValueError):
        raise OAuthError(f"{provider.label} sent an incomplete device-code reply.") from None


def poll_device_flow(provider: Provider, device_code: str) -> Tokens:
    """Tokens once the user approved; AuthorizationPending until then."""
    return _token_request(provider, {"grant_type": DEVICE_GRANT, "device_code": device_code})


def wait_for_device(
    provider: Provider, device: DeviceAuthorization, sleep=time.sleep, clock=time.time
) -> Tokens:
    """Poll at the provider's interval until approved, denied or expired (the command line)."""
    interval = device.interval
    while clock() < device.expires_at:
        sleep(interval)
        try:
            return poll_device_flow(provider, device.device_code)
        except AuthorizationPending as exc:
            if exc.slow_down:
                interval += 5  # RFC 8628 3.5
    raise OAuthError("The device code expired before it was approved; start again.", "expired")


# ---------------------------------------------------------------------------------------------
# Revocation and identity


def revoke(provider: Provider, token: str) -> bool:
    """Ask the provider to forget the token; False when it has no revocation endpoint."""
    if not provider.revocation_url:
        return False
    data = {"token": token, "client_id": provider.client_id}
    if provider.client_secret:
        data["client_secret"] = provider.client_secret
    _post(provider.revocation_url, data, provider.label, expect_json=False)
    return True


def id_token_claims(id_token: str) -> dict:
    """The claims of a JWT received from the token endpoint (see the module docstring)."""
    try:
        payload = id_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def identity(provider: Provider, tokens: Tokens, nonce: str = "") -> str:
    """The mail address the tokens belong to: id_token claims, else the userinfo endpoint."""
    claims = id_token_claims(tokens.id_token) if tokens.id_token else {}
    if nonce and claims.get("nonce") not in (None, nonce):
        raise OAuthError(f"{provider.label} returned an identity for another sign-in attempt.")
    if not _address(claims) and provider.userinfo_url:
        claims = _get_json(provider.userinfo_url, tokens.access_token, provider.label)
    return _address(claims)


def _address(claims: dict) -> str:
    for name in ("email", "preferred_username", "upn", "username"):
        value = claims.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


# ---------------------------------------------------------------------------------------------
# HTTP


def _token_request(provider: Provider, data: dict[str, str]) -> Tokens:
    data = {**data, "client_id": provider.client_id}
    if provider.client_secret:
        data["client_secret"] = provider.client_secret
    reply = _post(provider.token_url, data, provider.label)
    try:
        return Tokens(
            access_token=str(reply["access_token"]),
            expires_at=time.time() + int(reply.get("expires_in") or 3600),
            refresh_token=str(reply.get("refresh_token") or ""),
            id_token=str(reply.get("id_token") or ""),
            scope=str(reply.get("scope") or ""),
        )
    except (KeyError, TypeError, ValueError):
        raise OAuthError(f"{provider.label} sent a token reply without an access token.") from None


def _post(url: str, data: dict[str, str], label: str, expect_json: bool = True) -> dict:
    request = urllib.request.Request(
        url,
        data=urlencode(data).encode(),
        headers={"Accept": "application/json", "User-Agent": "backupweb"},
        method="POST",
    )
    return _send(request, label, expect_json)


def _get_json(url: str, access_token: str, label: str) -> dict:
    headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
    return _send(urllib.request.Request(url, headers=headers), label, True)


def _send(request: urllib.request.Request, label: str, expect_json: bool) -> dict:
    try:
        # The provider's endpoints are URLs an admin typed: held to the outbound policy.
        with outbound.guarded(), urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            body = response.read(MAX_REPLY)
    except urllib.error.HTTPError as exc:
        raise _refusal(exc, label) from None
    except (OSError, ValueError) as exc:  # URLError, timeouts, a malformed URL
        reason = getattr(exc, "reason", exc)
        raise OAuthError(f"{label} cannot be reached ({reason}).", "unreachable") from None
    if not expect_json:
        return {}
    try:
        reply = json.loads(body)
    except ValueError:
        raise OAuthError(f"{label} sent a reply that is not JSON.") from None
    if not isinstance(reply, dict):
        raise OAuthError(f"{label} sent a reply that is not a JSON object.")
    return reply


def _refusal(exc: urllib.error.HTTPError, label: str) -> OAuthError:
    """The provider's RFC 6749 error as an exception; the description is its own words."""
    try:
        reply = json.loads(exc.read(MAX_REPLY))
    except ValueError:
        reply = {}
    if not isinstance(reply, dict):
        reply = {}
    code = str(reply.get("error") or f"http_{exc.code}")
    said = str(reply.get("error_description") or "")[:300]
    text = f"{label} refused the request ({code}{': ' + said if said else ''})."
    if code in ("authorization_pending", "slow_down"):
        return AuthorizationPending(text, code, slow_down=code == "slow_down")
    if code in ("invalid_grant", "expired_token", "access_denied"):
        return InvalidGrant(text, code)
    return OAuthError(text, code)
