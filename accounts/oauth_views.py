"""OAuth2 sign-in pages for an account: the browser flow, the device-code flow, sign-out.

Thin shells over accounts/oauth.py (protocol) and accounts/oauth_tokens.py (storage). The browser
flow keeps its state, PKCE verifier and nonce in the session (they are useless without the
one-time code the provider sends back); the device code is kept encrypted.
"""

from __future__ import annotations

import time

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts import oauth, oauth_clients, oauth_tokens, secrets
from accounts.models import Account
from accounts.views import get_account
from backupweb.access import staff_required

FLOWS_KEY = "oauth_flows"  # state -> {account, provider, verifier, nonce, at}
DEVICE_KEY = "oauth_device"  # account pk -> {provider, code (encrypted), user_code, ...}
FLOW_TTL = 15 * 60  # seconds a browser flow may take
MAX_FLOWS = 5  # pending browser flows kept per session


def _provider_or_none(account: Account) -> oauth.Provider | None:
    return oauth_clients.get(
        account.oauth_provider or oauth_clients.provider_key_for(account.provider)
    )


@staff_required
def oauth_page(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_account(pk)
    context = {
        "nav": "accounts",
        "account": account,
        "provider": _provider_or_none(account),
        "provider_key": oauth_clients.provider_key_for(account.provider),
        "redirect_url": oauth_clients.redirect_url(),
    }
    return render(request, "accounts/oauth.html", context)


@staff_required
def oauth_start(request: HttpRequest, pk: int) -> HttpResponse:
    """Leave for the provider's sign-in page with a fresh state and PKCE verifier."""
    account = get_account(pk)
    provider = _provider_or_none(account)
    if provider is None or not provider.authorization_url:
        messages.error(request, "No OAuth client is configured for this provider.")
        return redirect("accounts:oauth", pk=account.pk)
    flow = oauth.authorization_request(provider, oauth_clients.redirect_url(), account.username)
    now = time.time()
    flows = {
        state: f
        for state, f in request.session.get(FLOWS_KEY, {}).items()
        if now - f["at"] < FLOW_TTL
    }
    flows = dict(sorted(flows.items(), key=lambda item: item[1]["at"])[-(MAX_FLOWS - 1) :])
    flows[flow.state] = {
        "account": account.pk,
        "provider": provider.key,
        "verifier": flow.code_verifier,
        "nonce": flow.nonce,
        "at": now,
    }
    request.session[FLOWS_KEY] = flows
    return redirect(flow.url)


@staff_required
def oauth_callback(request: HttpRequest) -> HttpResponse:
    """The provider sends the browser back here with a code (or an error) and our state."""
    flows = request.session.get(FLOWS_KEY, {})
    flow = flows.pop(request.GET.get("state", ""), None)
    request.session[FLOWS_KEY] = flows
    if flow is None or time.time() - flow["at"] > FLOW_TTL:
        return HttpResponseBadRequest(
            "This sign-in answer does not match a sign-in started here (or it is too old). "
            "Start again from the account page."
        )
    account = get_account(flow["account"])
    provider = oauth_clients.get(flow["provider"])
    if request.GET.get("error") or provider is None:
        reason = request.GET.get("error_description") or request.GET.get("error") or "no client"
        messages.error(request, f"Sign-in was not completed: {reason[:200]}")
        return redirect("accounts:oauth", pk=account.pk)
    try:
        tokens = oauth.exchange_code(
            provider, request.GET.get("code", ""), oauth_clients.redirect_url(), flow["verifier"]
        )
        oauth_tokens.finish_sign_in(account, provider, tokens, flow["nonce"])
    except oauth.OAuthError as exc:
        messages.error(request, f"Sign-in failed: {exc}")
        return redirect("accounts:oauth", pk=account.pk)
    messages.success(request, f"Signed in with {provider.label} as {account.username}.")
    return redirect(account)


@staff_required
@require_POST
def device_start(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_account(pk)
    provider = _provider_or_none(account)
    if provider is None or not provider.supports_device_flow:
        messages.error(request, "This provider does not offer sign-in with a device code.")
        return redirect("accounts:oauth", pk=account.pk)
    try:
        device = oauth.start_device_flow(provider)
    except oauth.OAuthError as exc:
        messages.error(request, str(exc))
        return redirect("accounts:oauth", pk=account.pk)
    pending = request.session.get(DEVICE_KEY, {})
    pending[str(account.pk)] = {
        "provider": provider.key,
        "code": secrets.encrypt(device.device_code, owner=str(account.uid), field="device_code"),
        "user_code": device.user_code,
        "uri": device.verification_uri,
        "expires": device.expires_at,
        "interval": device.interval,
    }
    request.session[DEVICE_KEY] = pending
    return _device_status(request, account, pending[str(account.pk)], "")


def _device_status(request: HttpRequest, account: Account, entry: dict | None, error: str):
    """The polled fragment for htmx; the whole device page for a browser without script."""
    context = {"nav": "accounts", "account": account, "entry": entry, "error": error}
    fragment = request.headers.get("HX-Request") == "true"
    template = "accounts/_oauth_device_status.html" if fragment else "accounts/oauth_device.html"
    return render(request, template, context)


@staff_required
@require_POST
def device_poll(request: HttpRequest, pk: int) -> HttpResponse:
    """Asked by the device page every few seconds: one token request, then a fragment."""
    account = get_account(pk)
    pending = request.session.get(DEVICE_KEY, {})
    entry = pending.get(str(account.pk))
    provider = oauth_clients.get(entry["provider"]) if entry else None
    if entry is None or provider is None or time.time() > entry["expires"]:
        return _device_status(request, account, None, "The code expired; start again.")
    try:
        code = secrets.decrypt(entry["code"], owner=str(account.uid), field="device_code")
        tokens = oauth.poll_device_flow(provider, code)
        oauth_tokens.finish_sign_in(account, provider, tokens)
    except oauth.AuthorizationPending:
        return _device_status(request, account, entry, "")
    except (oauth.OAuthError, secrets.SecretError) as exc:
        pending.pop(str(account.pk), None)
        request.session[DEVICE_KEY] = pending
        return _device_status(request, account, None, str(exc))
    pending.pop(str(account.pk), None)
    request.session[DEVICE_KEY] = pending
    messages.success(request, f"Signed in with {provider.label} as {account.username}.")
    if request.headers.get("HX-Request") != "true":
        return redirect(account)
    response = HttpResponse(status=204)
    response["HX-Redirect"] = account.get_absolute_url()
    return response


@staff_required
@require_POST
def oauth_sign_out(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_account(pk)
    revoked = oauth_tokens.sign_out(account)
    where = " and revoked it at the provider" if revoked else ""
    messages.success(request, f"Removed the OAuth2 sign-in{where}.")
    return redirect(reverse("accounts:oauth", args=[account.pk]))
