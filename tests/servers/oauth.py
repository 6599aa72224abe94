"""A small OAuth2 / OpenID provider for the tests, in a thread of the test process.

Endpoints: authorization (a page with Allow/Deny buttons, PKCE S256 checked at the token
endpoint), token (authorization_code, refresh_token with rotation, device_code), device
authorization (RFC 8628) with its verification page, revocation (RFC 7009), introspection
(RFC 7662, what Dovecot's `oauth2` passdb asks) and userinfo. Tests reach into its state to
expire access tokens, revoke refresh tokens and count what clients asked for.

The id_token is an unsigned JWT (`alg: none`): the client reads its claims because it got it
straight from the token endpoint, which is what OpenID Connect allows.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

CLIENT_ID = "backupweb-test-client"
CLIENT_SECRET = "test-client-secret-5d1e"


@dataclass
class _Code:
    username: str
    redirect_uri: str
    challenge: str
    scope: str
    nonce: str


@dataclass
class _Device:
    user_code: str
    scope: str
    expires: float
    username: str | None = None
    denied: bool = False


@dataclass
class OAuthProvider:
    """State of the running provider; `start()` serves it, `stop()` ends it."""

    access_lifetime: int = 3600
    rotate_refresh_tokens: bool = True
    identity: str = ""  # who "signs in" on the authorization and device pages
    codes: dict[str, _Code] = field(default_factory=dict)
    access: dict[str, tuple[str, float]] = field(default_factory=dict)  # token: (user, expiry)
    refresh: dict[str, tuple[str, str]] = field(default_factory=dict)  # token: (user, scope)
    devices: dict[str, _Device] = field(default_factory=dict)  # device_code: state
    counts: Counter = field(default_factory=Counter)
    issued: list[str] = field(default_factory=list)  # every token handed out, for leak checks
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @classmethod
    def start(cls, **options) -> OAuthProvider:
        provider = cls(**options)
        handler = type("Handler", (_Handler,), {"provider": provider})
        provider.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        provider.server.daemon_threads = True
        threading.Thread(target=provider.server.serve_forever, daemon=True).start()
        return provider

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def endpoint(self, name: str) -> str:
        return f"{self.url}/{name}"

    # -- what tests do to it -----------------------------------------------------------------

    def expire_access_tokens(self, username: str | None = None) -> None:
        """Access tokens handed out so far (to `username`, or to all) stop working."""
        with self.lock:
            for token, (user, _expiry) in list(self.access.items()):
                if username in (None, user):
                    del self.access[token]

    def revoke_refresh_tokens(self, username: str | None = None) -> None:
        """As if the user revoked backupweb's access in the provider's security settings."""
        self.expire_access_tokens(username)
        with self.lock:
            for token, (user, _scope) in list(self.refresh.items()):
                if username in (None, user):
                    del self.refresh[token]

    def approve_device(self, user_code: str, username: str) -> None:
        with self.lock:
            for device in self.devices.values():
                if device.user_code == user_code:
                    device.username = username
                    return
        raise KeyError(user_code)

    # -- tokens ------------------------------------------------------------------------------

    def issue(self, username: str, scope: str, nonce: str = "", refresh: bool = True) -> dict:
        access = "at-" + secrets.token_urlsafe(24)
        body = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.access_lifetime,
            "scope": scope,
        }
        with self.lock:
            self.access[access] = (username, time.time() + self.access_lifetime)
            self.issued.append(access)
            if refresh:
                token = "rt-" + secrets.token_urlsafe(24)
                self.refresh[token] = (username, scope)
                self.issued.append(token)
                body["refresh_token"] = token
        if "openid" in scope.split():
            body["id_token"] = self.id_token(username, nonce)
        return body

    def id_token(self, username: str, nonce: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.url,
            "sub": f"sub-{username}",
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 3600,
            "email": username,
            "preferred_username": username,
        }
        if nonce:
            claims["nonce"] = nonce
        parts = [{"alg": "none", "typ": "JWT"}, claims]
        encoded = [base64.urlsafe_b64encode(json.dumps(p).encode()).rstrip(b"=") for p in parts]
        return b".".join(encoded).decode() + "."

    def active_user(self, token: str) -> str | None:
        with self.lock:
            entry = self.access.get(token)
        if entry is None or entry[1] < time.time():
            return None
        return entry[0]


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class _Handler(BaseHTTPRequestHandler):
    provider: OAuthProvider

    def log_message(self, *args) -> None:  # quiet
        pass

    # -- plumbing ----------------------------------------------------------------------------

    def _form(self) -> dict[str, str]:
        length = int(self.headers.get("Content-Length") or 0)
        data = parse_qs(self.rfile.read(length).decode(), keep_blank_values=True)
        return {k: v[0] for k, v in data.items()}

    def _json(self, body: dict, status: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def _error(self, error: str, status: int = 400) -> None:
        self._json({"error": error, "error_description": f"test provider: {error}"}, status)

    def _html(self, text: str) -> None:
        data = f"<!doctype html><html><body>{text}</body></html>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _client_ok(self, form: dict[str, str]) -> bool:
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            return user == CLIENT_ID and password == CLIENT_SECRET
        return form.get("client_id") == CLIENT_ID and form.get("client_secret") == CLIENT_SECRET

    # -- routes ------------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 (http.server's API)
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path == "/authorize":
            return self._authorize_page(query)
        if parts.path == "/userinfo":
            user = self.provider.active_user(self.headers.get("Authorization", "")[7:])
            if user is None:
                return self._error("invalid_token", 401)
            return self._json({"sub": f"sub-{user}", "email": user})
        if parts.path == "/device/verify":
            return self._html(
                "<h1>Enter the code</h1><form method=post action=/device/verify>"
                "<input name=user_code><button>Continue</button></form>"
            )
        self._error("not_found", 404)

    def do_POST(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        form = self._form()
        routes = {
            "/authorize": self._authorize_decision,
            "/token": self._token,
            "/device": self._device,
            "/revoke": self._revoke,
            "/introspect": self._introspect,
            "/device/verify": self._device_verify,
        }
        if path not in routes:
            return self._error("not_found", 404)
        self.provider.counts[path] += 1
        routes[path](form)

    def _authorize_page(self, query: dict[str, str]) -> None:
        if query.get("client_id") != CLIENT_ID or query.get("response_type") != "code":
            return self._error("unauthorized_client")
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return self._error("invalid_request")  # PKCE is mandatory here
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in query.items()
        )
        who = html.escape(self.provider.identity or query.get("login_hint", ""))
        self._html(
            "<h1>Test provider</h1><p>backupweb asks to read your mail.</p>"
            f'<form method="post" action="/authorize">{hidden}'
            f'<label>Signed in as <input name="login" value="{who}"></label>'
            '<button name="decision" value="allow">Allow</button>'
            '<button name="decision" value="deny">Deny</button></form>'
        )

    def _authorize_decision(self, form: dict[str, str]) -> None:
        redirect_uri, state = form.get("redirect_uri", ""), form.get("state", "")
        if form.get("decision") != "allow":
            reply = {"error": "access_denied", "state": state}
            return self._redirect(f"{redirect_uri}?{urlencode(reply)}")
        code = secrets.token_urlsafe(16)
        self.provider.codes[code] = _Code(
            username=form.get("login", ""),
            redirect_uri=redirect_uri,
            challenge=form.get("code_challenge", ""),
            scope=form.get("scope", ""),
            nonce=form.get("nonce", ""),
        )
        self._redirect(f"{redirect_uri}?{urlencode({'code': code, 'state': state})}")

    def _token(self, form: dict[str, str]) -> None:
        if not self._client_ok(form):
            return self._error("invalid_client", 401)
        grant = form.get("grant_type", "")
        self.provider.counts[f"grant:{grant}"] += 1
        handlers = {
            "authorization_code": self._code_grant,
            "refresh_token": self._refresh_grant,
            "urn:ietf:params:oauth:grant-type:device_code": self._device_grant,
        }
        if grant not in handlers:
            return self._error("unsupported_grant_type")
        handlers[grant](form)

    def _code_grant(self, form: dict[str, str]) -> None:
        code = self.provider.codes.pop(form.get("code", ""), None)
        if code is None or code.redirect_uri != form.get("redirect_uri"):
            return self._error("invalid_grant")
        if _challenge(form.get("code_verifier", "")) != code.challenge:
            return self._error("invalid_grant")  # PKCE verifier does not match
        self._json(self.provider.issue(code.username, code.scope, code.nonce))

    def _refresh_grant(self, form: dict[str, str]) -> None:
        provider = self.provider
        with provider.lock:
            entry = provider.refresh.get(form.get("refresh_token", ""))
            if entry is not None and provider.rotate_refresh_tokens:
                del provider.refresh[form["refresh_token"]]
        if entry is None:
            return self._error("invalid_grant")
        body = provider.issue(entry[0], entry[1], refresh=provider.rotate_refresh_tokens)
        self._json(body)

    def _device(self, form: dict[str, str]) -> None:
        if form.get("client_id") != CLIENT_ID:
            return self._error("invalid_client", 401)
        device_code = secrets.token_urlsafe(24)
        user_code = "-".join(secrets.token_hex(2).upper() for _ in range(2))
        self.provider.devices[device_code] = _Device(
            user_code, form.get("scope", ""), time.time() + 600
        )
        self._json(
            {
                "device_code": device_code,
                "user_code": user_code,
                "verification_uri": self.provider.endpoint("device/verify"),
                "expires_in": 600,
                "interval": 1,
            }
        )

    def _device_verify(self, form: dict[str, str]) -> None:
        try:
            self.provider.approve_device(form.get("user_code", ""), self.provider.identity)
        except KeyError:
            return self._html("<p>Unknown code.</p>")
        self._html("<p>Device approved. You can close this window.</p>")

    def _device_grant(self, form: dict[str, str]) -> None:
        device = self.provider.devices.get(form.get("device_code", ""))
        if device is None or device.expires < time.time():
            return self._error("expired_token")
        if device.denied:
            return self._error("access_denied")
        if device.username is None:
            return self._error("authorization_pending")
        del self.provider.devices[form["device_code"]]
        self._json(self.provider.issue(device.username, device.scope))

    def _revoke(self, form: dict[str, str]) -> None:
        token = form.get("token", "")
        with self.provider.lock:
            self.provider.refresh.pop(token, None)
            self.provider.access.pop(token, None)
        self._json({})

    def _introspect(self, form: dict[str, str]) -> None:
        user = self.provider.active_user(form.get("token", ""))
        if user is None:
            return self._json({"active": False})
        self._json({"active": True, "username": user, "client_id": CLIENT_ID, "scope": "mail"})


# ---------------------------------------------------------------------------------------------
# Helpers for the tests: point backupweb at this provider, make a signed-in account.


def configure_generic(settings, provider: OAuthProvider) -> None:
    """The generic OAuth2 provider of backupweb's settings is this one (pytest `settings`)."""
    settings.OAUTH_GENERIC_NAME = "Test provider"
    settings.OAUTH_GENERIC_CLIENT_ID = CLIENT_ID
    settings.OAUTH_GENERIC_CLIENT_SECRET = CLIENT_SECRET
    settings.OAUTH_GENERIC_AUTHORIZATION_URL = provider.endpoint("authorize")
    settings.OAUTH_GENERIC_TOKEN_URL = provider.endpoint("token")
    settings.OAUTH_GENERIC_DEVICE_URL = provider.endpoint("device")
    settings.OAUTH_GENERIC_REVOCATION_URL = provider.endpoint("revoke")
    settings.OAUTH_GENERIC_USERINFO_URL = provider.endpoint("userinfo")
    settings.OAUTH_GENERIC_SCOPES = "openid email mail offline_access"


def signed_in_account(dovecot, oauth_server: OAuthProvider, user, **fields):
    """A saved IMAP account on `dovecot`, signed in with the generic provider as `user`."""
    from accounts import oauth, oauth_clients, oauth_tokens
    from accounts.models import Account

    values = {
        "name": f"OAuth {user.username}",
        "protocol": "imap",
        "host": dovecot.host,
        "port": dovecot.imap_port,
        "security": "none",
        "username": user.username,
        "auth_method": Account.AuthMethod.OAUTH2,
        "oauth_provider": "generic",
        **fields,
    }
    account = Account.objects.create(**values)
    reply = oauth_server.issue(user.username, "openid email mail")
    tokens = oauth.Tokens(
        access_token=reply["access_token"],
        expires_at=time.time() + reply["expires_in"],
        refresh_token=reply["refresh_token"],
    )
    client = oauth_clients.get(account.oauth_provider)
    oauth_tokens.save_sign_in(account, client, tokens, user.username)
    return account
