"""Everyone's own API tokens: list, create (shown once) and revoke. Thin over users.api_tokens."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

import audit
from backupweb.access import any_role_required
from users import api_tokens
from users.forms import NewTokenForm


@any_role_required
@never_cache  # the page that shows a new token once must not be kept by any cache
def token_list(request: HttpRequest) -> HttpResponse:
    form = NewTokenForm(request.POST or None)
    new_token = None
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        row, new_token = api_tokens.create(request.user, d["scope"], d["expires"], d["name"])
        audit.record(request, "api_token.create", row, scope=row.scope)
        form = NewTokenForm()
    tokens = request.user.api_tokens.all()
    context = {"nav": "tokens", "form": form, "tokens": tokens, "new_token": new_token}
    return render(request, "users/tokens.html", context)


@any_role_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    row = get_object_or_404(request.user.api_tokens, pk=pk)  # one's own tokens only
    if api_tokens.revoke(row):
        audit.record(request, "api_token.revoke", row)
        messages.success(request, f"Token {row.prefix}… revoked.")
    return redirect("users:tokens")
