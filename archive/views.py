from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.models import Account


def archive_home(request: HttpRequest) -> HttpResponse:
    accounts = Account.objects.all()
    return render(request, "archive/home.html", {"nav": "archive", "accounts": accounts})
