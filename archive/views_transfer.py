"""Archive pages that move mail in and out: search, exports (streamed) and imports."""

from __future__ import annotations

from django.contrib import messages as flash
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

import audit
from archive import importer, search
from archive.export import FORMATS, stream_export
from archive.forms import SearchForm, ServerImportForm, UploadForm
from archive.import_runs import import_root
from archive.models import ImportRun, Message
from archive.query_language import OPERATORS_HELP
from archive.safenames import safe_component
from archive.tasks import import_mail
from archive.viewer import set_download_headers
from archive.views import (
    accounts_for_user,
    get_account_for_user,
    get_folder_for_user,
    scope_search,
)
from backupweb.access import staff_required

MAX_SELECTION = 10_000


def search_view(request: HttpRequest) -> HttpResponse:
    accounts = accounts_for_user(request.user).order_by("name")
    form = SearchForm(request.GET or None, accounts=accounts)
    page = q = None
    query_string = ""
    if form.is_bound and form.is_valid():
        q = scope_search(form.to_query(), request.user)
        if not q.empty or q.has_filters:
            after = request.GET.get("after")
            page = search.search(q, after=int(after) if (after or "").isdigit() else None)
            params = request.GET.copy()
            params.pop("after", None)
            query_string = params.urlencode()
    advanced = "advanced" in request.GET or any(request.GET.get(k) for k in form.fields if k != "q")
    context = {
        "nav": "archive",
        "form": form,
        "page": page,
        "query_string": query_string,
        "advanced": advanced,
        # A restore takes one account's results by words (jobs.views_transfer.restore_new).
        "restore_account": q.account_id if q and not q.empty and form.data.get("q") else None,
        "restore_words": request.GET.get("q", ""),
        "operators": OPERATORS_HELP,
    }
    return render(request, "archive/search.html", context)


# -- exports ----------------------------------------------------------------------------------


def export_selection(request: HttpRequest) -> tuple[object, str]:
    """(messages queryset, name) for the export the request asks for; 404 if not allowed."""
    data = request.POST if request.method == "POST" else request.GET
    scope = data.get("scope", "")
    visible = Message.objects.filter(folder__account__in=accounts_for_user(request.user))
    if scope == "folder":
        folder = get_folder_for_user(request.user, int_or_404(data.get("folder")))
        qs = visible.filter(folder__account=folder.account, folder__name=folder.name)
        return qs, f"{folder.account.name}-{folder.name}"
    if scope == "account":
        account = get_account_for_user(request.user, int_or_404(data.get("account")))
        return visible.filter(folder__account=account), account.name
    if scope == "selection":
        ids = [int_or_404(i) for i in data.getlist("ids")[:MAX_SELECTION]]
        return visible.filter(pk__in=ids), "selection"
    if scope == "search":
        form = SearchForm(data, accounts=accounts_for_user(request.user))
        if not form.is_valid() or not (form.to_query().has_filters or not form.to_query().empty):
            raise Http404("Nothing to export.")
        ids = _all_search_ids(scope_search(form.to_query(), request.user))
        return visible.filter(pk__in=ids), "search"
    raise Http404("Unknown export.")


def _all_search_ids(q) -> list[int]:
    ids: list[int] = []
    after = None
    while len(ids) < MAX_SELECTION:
        page = search.search(q, after=after, per_page=500)
        ids.extend(h.message.pk for h in page.hits)
        if page.next_after is None:
            break
        after = page.next_after
    return ids[:MAX_SELECTION]


def int_or_404(value) -> int:
    """A request parameter as an int; 404 when it is not one."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Http404("Not found.") from None


def export_view(request: HttpRequest) -> HttpResponse:
    """A zip of .eml files (with manifest.csv) or of mbox files, streamed as it is written."""
    data = request.POST if request.method == "POST" else request.GET
    fmt = data.get("fmt", "eml")
    if fmt not in FORMATS:
        raise Http404("Unknown format.")
    qs, name = export_selection(request)
    if request.method == "POST" and data.get("scope") == "selection" and not data.getlist("ids"):
        flash.error(request, "Select at least one message to export.")
        return redirect(request.META.get("HTTP_REFERER") or "archive:home")
    audit.record(request, "archive.export", name, scope=data.get("scope", ""), format=fmt)
    response = StreamingHttpResponse(stream_export(qs, fmt=fmt), content_type="application/zip")
    suffix = "-mbox" if fmt == "mbox" else ""
    set_download_headers(response, safe_component(f"{name}{suffix}") + ".zip")
    return response


# -- imports ----------------------------------------------------------------------------------


@staff_required
def import_page(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_account_for_user(request.user, pk)
    upload = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and upload.is_valid():
        files = upload.cleaned_data["files"]
        report = importer.import_uploads(account, files, upload.cleaned_data["folder"])
        names = [getattr(f, "name", "") for f in files]
        audit.record(request, "archive.import", account, files=names, imported=report.imported)
        return render(
            request,
            "archive/import_result.html",
            {"nav": "archive", "account": account, "report": report},
        )
    context = {
        "nav": "archive",
        "account": account,
        "upload": upload,
        "root": import_root(),
        "entries": importer.list_import_dir(import_root()),
        "runs": ImportRun.objects.filter(account=account)[:20],
    }
    return render(request, "archive/import.html", context)


@staff_required
@require_POST
def import_server(request: HttpRequest, pk: int) -> HttpResponse:
    """Start a background import of an entry of the server's import folder."""
    account = get_account_for_user(request.user, pk)
    form = ServerImportForm(request.POST)
    root = import_root()
    if root is None or not form.is_valid():
        raise Http404("No import folder is configured.")
    try:
        path = importer.resolve_import_path(root, form.cleaned_data["name"])
    except importer.ImportRefused as e:
        flash.error(request, str(e))
        return redirect("archive:import", pk=account.pk)
    run = ImportRun.objects.create(
        account=account,
        source=path.name,
        folder_name=form.cleaned_data["folder"] or "",
        total_bytes=importer.total_size(path),
    )
    audit.record(request, "archive.import", account, source=path.name, run=run.pk)
    transaction.on_commit(lambda: import_mail.delay(run.pk))
    flash.success(request, f"Importing {path.name} in the background.")
    return redirect("archive:import-run", pk=run.pk)


@staff_required
def import_run(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(
        ImportRun.objects.filter(account__in=accounts_for_user(request.user)), pk=pk
    )
    template = "archive/_import_run.html" if request.headers.get("HX-Request") else None
    context = {"nav": "archive", "run": run, "account": run.account}
    return render(request, template or "archive/import_run.html", context)
