from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from accounts.models import Account


def account_list(request: HttpRequest) -> HttpResponse:
    accounts = Account.objects.all()
    return render(request, "accounts/list.html", {"nav": "accounts", "accounts": accounts})


def account_detail(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_object_or_404(Account, pk=pk)
    return render(request, "accounts/detail.html", {"nav": "accounts", "account": account})
