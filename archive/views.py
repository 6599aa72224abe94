"""Archive browser pages: accounts, folders, message lists, messages, parts and downloads.

Thin views over `archive.browse`, `archive.mime` and `archive.viewer`. Every message, part and
download goes through `get_message_for_user`, the one access check (roles and grants of
issue 8 plug in there).
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET

import audit
from accounts.models import Account
from archive import browse, threads
from archive.blobstore import BlobError, get_store
from archive.mime import TooComplex, build_view, find_part, nested_raw, parse_email, payload_bytes
from archive.models import Folder, Message
from archive.search import SearchQuery
from archive.viewer import (
    body_response,
    download_content_type,
    inline_images,
    linkify,
    sanitize_html,
    set_download_headers,
)
from backupweb.access import STAFF, accounts_visible_to, role_of

MAX_SOURCE_CHARS = 5 * 1024 * 1024


# -- access -----------------------------------------------------------------------------------


def accounts_for_user(user) -> object:
    """The accounts whose archive `user` may see (backupweb.access: roles and grants)."""
    return accounts_visible_to(user)


def get_account_for_user(user, pk: int) -> Account:
    return get_object_or_404(accounts_for_user(user), pk=pk)


def get_folder_for_user(user, pk: int) -> Folder:
    return get_object_or_404(
        Folder.objects.select_related("account").filter(account__in=accounts_for_user(user)),
        pk=pk,
    )


def get_message_for_user(user, pk: int) -> Message:
    return get_object_or_404(
        Message.objects.select_related("folder", "folder__account").filter(
            folder__account__in=accounts_for_user(user)
        ),
        pk=pk,
    )


def scope_search(q: SearchQuery, user) -> SearchQuery:
    """Limit a search to the accounts the user may see (viewers: their grants)."""
    if role_of(user) not in STAFF:
        q.account_ids = list(accounts_for_user(user).values_list("pk", flat=True))
    return q


def _nested_path(request: HttpRequest) -> list[int]:
    text = request.GET.get("n", "")
    if not text:
        return []
    try:
        path = [int(p) for p in text.split(".")]
    except ValueError:
        raise Http404("No such nested message.") from None
    if len(path) > 10 or any(p < 0 for p in path):
        raise Http404("No such nested message.")
    return path


def _raw_of(message: Message, path: list[int]) -> bytes:
    try:
        raw = get_store().get(message.blob_id)
    except BlobError as e:
        raise Http404(f"The archived bytes cannot be read: {e}") from None
    if not path:
        return raw
    try:
        return nested_raw(raw, path)
    except (LookupError, TooComplex):
        raise Http404("No such nested message.") from None


# -- listing ----------------------------------------------------------------------------------


def archive_home(request: HttpRequest) -> HttpResponse:
    rows = browse.account_totals(accounts_for_user(request.user).order_by("name"))
    return render(request, "archive/home.html", {"nav": "archive", "rows": rows})


def account_detail(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_account_for_user(request.user, pk)
    context = {"nav": "archive", "account": account, "tree": browse.folder_tree(account)}
    return render(request, "archive/account.html", context)


def folder_detail(request: HttpRequest, pk: int) -> HttpResponse:
    folder = get_folder_for_user(request.user, pk)
    # All rows of this folder path (UIDVALIDITY eras) list as one folder.
    eras = list(Folder.objects.filter(account_id=folder.account_id, name=folder.name))
    sort = request.GET.get("sort", "date")
    descending = request.GET.get("dir", "desc") != "asc"
    page = browse.folder_page(
        [f.pk for f in eras],
        sort=sort,
        descending=descending,
        after=request.GET.get("after"),
        before=request.GET.get("before"),
        last=request.GET.get("last") == "1",
    )
    context = {
        "nav": "archive",
        "folder": folder,
        "account": folder.account,
        "count": sum(f.message_count for f in eras),
        "deleted": all(f.deleted_on_server_at for f in eras),
        "page": page,
        "sort": sort if sort in browse.SORTS else "date",
        "dir": "desc" if descending else "asc",
        "sorts": browse.SORTS,
    }
    return render(request, "archive/folder.html", context)


def conversation(request: HttpRequest, pk: int) -> HttpResponse:
    message = get_message_for_user(request.user, pk)
    context = {
        "nav": "archive",
        "message": message,
        "account": message.folder.account,
        "thread": threads.conversation(message),
    }
    return render(request, "archive/conversation.html", context)


# -- one message ------------------------------------------------------------------------------


def message_detail(request: HttpRequest, pk: int) -> HttpResponse:
    message = get_message_for_user(request.user, pk)
    path = _nested_path(request)
    view = build_view(_raw_of(message, path))
    remote = request.GET.get("remote") == "1"
    n = ".".join(map(str, path))
    audit.record(request, "message.open", message, nested=n, remote_images=remote)
    query = {"n": n} if n else {}
    context = {
        "nav": "archive",
        "message": message,
        "account": message.folder.account,
        "view": view,
        "text": linkify(view.text) if view.text else None,
        "remote": remote,
        "n": n,
        "body_url": _url("archive:message-body", message.pk, query | _remote_query(remote)),
        "blocked_remote": _blocked_remote(request, message, view) if view.html else 0,
        "print": request.resolver_match.url_name == "message-print",
    }
    template = "archive/print.html" if context["print"] else "archive/message.html"
    return render(request, template, context)


def _remote_query(remote: bool) -> dict:
    return {"remote": "1"} if remote else {}


def _url(name: str, pk: int, query: dict) -> str:
    from urllib.parse import urlencode

    url = reverse(name, args=[pk])
    return f"{url}?{urlencode(query)}" if query else url


def _blocked_remote(request: HttpRequest, message: Message, view) -> int:
    result = sanitize_html(view.html, allow_remote=False, cid_url=lambda cid: None)
    return result.blocked_remote


@require_GET
def message_body(request: HttpRequest, pk: int) -> HttpResponse:
    """The sanitized HTML part, as the sandboxed iframe's own document."""
    message = get_message_for_user(request.user, pk)
    path = _nested_path(request)
    raw = _raw_of(message, path)
    view = build_view(raw)
    remote = request.GET.get("remote") == "1"
    if view.html is None:
        return body_response("", allow_remote=False)
    cid_url = inline_images(raw, view.cid_map())
    result = sanitize_html(view.html, allow_remote=remote, cid_url=cid_url)
    if result.fallback_text is not None:
        note = "This HTML part is too large to display safely; here it is as plain text."
        from django.utils.html import format_html

        content = format_html("<p><em>{}</em></p><pre>{}</pre>", note, result.fallback_text)
        return body_response(content, allow_remote=False)
    return body_response(result.html, allow_remote=remote)


@require_GET
def message_inline(request: HttpRequest, pk: int, index: int) -> HttpResponse:
    """An inline (`cid:`) image of a message, shown in place, to a reader of the message
    (checked on every request: no token outlives a logout or a revoked grant). The body
    document embeds its images itself (archive.viewer.inline_images)."""
    message = get_message_for_user(request.user, pk)
    raw = _raw_of(message, _nested_path(request))
    data, ctype = _part(raw, index)
    ctype = download_content_type(ctype)
    if not ctype.startswith("image/"):
        ctype = "application/octet-stream"
    response = HttpResponse(data, content_type=ctype)
    set_download_headers(response, f"part-{index}")
    response["Content-Disposition"] = "inline"
    return response


def _part(raw: bytes, index: int) -> tuple[bytes, str]:
    try:
        part = find_part(parse_email(raw), index)
    except TooComplex:
        part = None
    if part is None:
        raise Http404("No such part.")
    return payload_bytes(part), part.get_content_type()


@require_GET
def message_part(request: HttpRequest, pk: int, index: int) -> HttpResponse:
    """An attachment, always as a download under a safe name."""
    message = get_message_for_user(request.user, pk)
    raw = _raw_of(message, _nested_path(request))
    from archive.mime import describe

    try:
        part = find_part(parse_email(raw), index)
    except TooComplex:
        part = None
    if part is None:
        raise Http404("No such part.")
    info = describe(index, part)
    name = info.display_name
    audit.record(request, "message.attachment_download", message, part=index, name=name)
    ctype = "message/rfc822" if info.is_message else download_content_type(info.content_type)
    name = info.display_name + (".eml" if info.is_message and not info.filename else "")
    response = HttpResponse(payload_bytes(part), content_type=ctype)
    set_download_headers(response, name)
    return response


@require_GET
def message_download(request: HttpRequest, pk: int) -> HttpResponse:
    """The exact archived bytes as a .eml file (streamed; the hash is checked as it goes)."""
    message = get_message_for_user(request.user, pk)
    path = _nested_path(request)
    name = f"{message.folder.name}-{message.uid}" + (f"-{'.'.join(map(str, path))}" if path else "")
    audit.record(request, "message.download", message, nested=".".join(map(str, path)))
    if path:
        response: HttpResponse = HttpResponse(_raw_of(message, path), content_type="message/rfc822")
    else:
        try:
            stream = get_store().open_stream(message.blob_id)
        except BlobError as e:
            raise Http404(f"The archived bytes cannot be read: {e}") from None
        response = StreamingHttpResponse(_chunks(stream), content_type="message/rfc822")
        response["Content-Length"] = str(message.blob.size)
    set_download_headers(response, f"{name}.eml")
    return response


def _chunks(stream):
    with stream:
        while chunk := stream.read(1 << 16):
            yield chunk


@require_GET
def message_source(request: HttpRequest, pk: int) -> HttpResponse:
    message = get_message_for_user(request.user, pk)
    raw = _raw_of(message, _nested_path(request))
    audit.record(request, "message.source", message)
    text = raw[:MAX_SOURCE_CHARS].decode("utf-8", "replace")
    context = {
        "nav": "archive",
        "message": message,
        "account": message.folder.account,
        "source": text,
        "truncated": len(raw) > MAX_SOURCE_CHARS,
    }
    return render(request, "archive/source.html", context)
