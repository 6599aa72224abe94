"""With REQUIRE_2FA_FOR_ADMINS, an administrator whose session is not verified by a TOTP code
can only set up two-factor sign-in (or log out) until it is."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from backupweb import access


class TwoFactorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self._must_verify(request):
            setup = reverse("users:two-factor")
            allowed = (setup, reverse("logout"), "/" + settings.STATIC_URL.lstrip("/"))
            if not request.path.startswith(allowed):
                return redirect(setup)
        return self.get_response(request)

    @staticmethod
    def _must_verify(request: HttpRequest) -> bool:
        if not settings.REQUIRE_2FA_FOR_ADMINS:
            return False
        user = getattr(request, "user", None)
        if not access.is_administrator(user):
            return False
        return not user.is_verified()
