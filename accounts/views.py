"""Account pages: list, detail, add/edit with presets, connection test, delete, CSV import."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

import audit
from accounts import csv_import, oauth_clients, presets, services
from accounts.forms import AccountForm, DeleteForm, ImportForm
from accounts.models import Account
from backupweb import ratelimit
from backupweb.access import staff_required
from mail.tls import normalize_fingerprint


def _posted(request: HttpRequest):
    """The POST data, or None on GET (an empty POST, like an unticked box, is still a POST)."""
    return request.POST if request.method == "POST" else None


def get_account(pk: int) -> Account:
    """The one way views fetch an account: active ones only, or 404."""
    return get_object_or_404(Account.objects.active(), pk=pk)


@staff_required
def account_list(request: HttpRequest) -> HttpResponse:
    accounts = Account.objects.active()
    return render(request, "accounts/list.html", {"nav": "accounts", "accounts": accounts})


@staff_required
def account_detail(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_account(pk)
    context = {
        "nav": "accounts",
        "account": account,
    }
    return render(request, "accounts/detail.html", context)


def _form_page(request: HttpRequest, form: AccountForm, account: Account | None) -> HttpResponse:
    test_url = (
        reverse("accounts:edit-test", args=[account.pk])
        if account
        else reverse("accounts:new-test")
    )
    context = {
        "nav": "accounts",
        "form": form,
        "account": account,
        "presets": presets.as_json(),
        "oauth_labels": oauth_clients.sign_in_labels(),
        "hint": presets.get(form["provider"].value()).hint,
        "test_url": test_url,
    }
    return render(request, "accounts/form.html", context)


@staff_required
def account_create(request: HttpRequest) -> HttpResponse:
    form = AccountForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        account = form.save()
        audit.record(request, "account.create", account, host=account.host, user=account.username)
        messages.success(request, f"Account {account.name} added.")
        return _after_save(request, account)
    return _form_page(request, form, None)


@staff_required
def account_edit(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_account(pk)
    form = AccountForm(_posted(request), instance=account)
    if request.method == "POST" and form.is_valid():
        form.save()
        audit.record(request, "account.change", account, fields=_changed(form))
        messages.success(request, f"Account {account.name} saved.")
        return _after_save(request, account)
    return _form_page(request, form, account)


def _changed(form: AccountForm) -> list[str]:
    """Names of the changed fields (a new password shows as "secret", never its value)."""
    return sorted(form.changed_data)


def _after_save(request: HttpRequest, account: Account) -> HttpResponse:
    """ "Save and sign in" goes on to the OAuth2 sign-in page; "Save" to the account."""
    if account.uses_oauth and (request.POST.get("oauth_sign_in") or not account.oauth_signed_in):
        return redirect("accounts:oauth", pk=account.pk)
    return redirect(account)


def _test_result(request: HttpRequest, context: dict) -> HttpResponse:
    """The result fragment for htmx; a whole page when the browser posted without htmx."""
    fragment = request.headers.get("HX-Request") == "true"
    template = "accounts/_test_result.html" if fragment else "accounts/test_page.html"
    return render(request, template, {"nav": "accounts", **context})


@staff_required
@require_POST
def form_test(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """Test the values in the form, before saving (an edit keeps the stored password)."""
    account = get_account(pk) if pk else None
    form = AccountForm(request.POST, instance=account)
    problems = form.connection_errors() or _too_many_tests(request)
    if problems:
        return _test_result(request, {"form_errors": problems, "mode": "form"})
    report = services.run_test(_unsaved(form))
    return _test_result(
        request,
        {"report": report, "mode": "form", "username": form.cleaned_data.get("username", "")},
    )


def _too_many_tests(request: HttpRequest) -> dict[str, list[str]]:
    """Connection tests are limited per user: each one connects wherever the form says."""
    limit = settings.CONNECTION_TESTS_PER_MINUTE
    if ratelimit.allow(f"connection-test:{request.user.pk}", limit, 60):
        return {}
    return {"Connection test": [f"at most {limit} a minute; try again in a minute."]}


def _unsaved(form: AccountForm) -> Account:
    account = form.account_to_test()
    account.pk = None  # a form test never writes test results onto the stored account
    return account


@staff_required
@require_POST
def account_test(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_account(pk)
    problems = _too_many_tests(request)
    if problems:
        return _test_result(request, {"form_errors": problems, "mode": "account"})
    report = services.run_test(account)
    context = {"report": report, "mode": "account", "account": account}
    return _test_result(request, {**context, "username": account.username})


@staff_required
@require_POST
def account_pin(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_account(pk)
    try:
        fingerprint = normalize_fingerprint(request.POST.get("fingerprint", ""))
    except ValueError as exc:
        messages.error(request, str(exc))
        return redirect(account)
    if fingerprint:
        services.pin_certificate(account, fingerprint, request.user.get_username())
        messages.success(request, "Certificate pinned: test the connection again.")
    return redirect(account)


@staff_required
def account_delete(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_account(pk)
    form = DeleteForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        delete_archive = form.cleaned_data["delete_archive"]
        name = account.name
        audit.record(request, "account.delete", account, archive_deleted=delete_archive)
        services.delete_account(account, delete_archive, request.user.get_username())
        kept = (
            "and its archived mail were deleted; the background cleanup frees the disk space"
            if delete_archive
            else "deleted; its archive is kept"
        )
        messages.success(request, f"Account {name} {kept}.")
        return redirect("accounts:list")
    grace = settings.BLOB_GC_GRACE_HOURS
    context = {"nav": "accounts", "account": account, "form": form, "gc_grace_hours": grace}
    return render(request, "accounts/confirm_delete.html", context)


@staff_required
def import_accounts(request: HttpRequest) -> HttpResponse:
    form = ImportForm(_posted(request), request.FILES or None)
    context = {"nav": "accounts", "form": form, "outcome": None, "file_error": ""}
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data["file"].read(csv_import.MAX_BYTES + 1)
        try:
            context["outcome"] = csv_import.import_csv(
                data,
                update_existing=form.cleaned_data["existing"] == "update",
                valid_only=form.cleaned_data["valid_only"],
            )
            outcome = context["outcome"]
            audit.record(
                request,
                "account.import_csv",
                None,
                created=[row.name for row in outcome.created],
                updated=[row.name for row in outcome.updated],
                imported=outcome.imported,
            )
        except csv_import.ImportFileError as exc:
            context["file_error"] = str(exc)
    return render(request, "accounts/import.html", context)


@staff_required
def import_template(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(csv_import.template_csv(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="accounts-template.csv"'
    return response
