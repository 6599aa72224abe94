"""The archive over the API, for every role within its grants (the pages' access helpers in
archive.views): folders, messages with keyset pagination, search with the search page's
fields, and downloads (the .eml, an attachment, an export), which are the pages' own responses
so they keep their headers and their audit entries."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.auth import django_request, record
from api.serializers import (
    FolderSerializer,
    MessageDetailSerializer,
    MessagePageSerializer,
    MessageSerializer,
    SearchPageSerializer,
)
from archive import browse, search, views, views_transfer
from archive.blobstore import BlobError, get_store
from archive.forms import SearchForm
from archive.mime import build_view
from archive.models import Folder

MAX_PER_PAGE = 200
FILE = OpenApiResponse(description="the file, as an attachment download")
SEARCH_FIELDS = [
    OpenApiParameter(name, str)
    for name in ("q", "subject", "body", "from_addr", "to_addrs", "cc_addrs", "attachments")
] + [
    OpenApiParameter("account", int),
    OpenApiParameter("folder", int),
    OpenApiParameter("date_from", str, description="YYYY-MM-DD"),
    OpenApiParameter("date_to", str, description="YYYY-MM-DD"),
    OpenApiParameter("has_attachment", str, enum=["yes", "no"]),
    OpenApiParameter("flag", str, description="e.g. \\Seen, or -\\Seen for unread"),
    OpenApiParameter("deleted", str, enum=["yes", "no"]),
    OpenApiParameter("after", int, description="next_after of the previous page"),
]


class AccountFolders(APIView):
    @extend_schema(responses=FolderSerializer(many=True))
    def get(self, request: Request, pk: int) -> Response:
        account = views.get_account_for_user(request.user, pk)
        folders = Folder.objects.filter(account=account).order_by("name", "pk")
        return Response(FolderSerializer(folders, many=True).data)


class FolderMessages(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("sort", str, enum=list(browse.SORTS)),
            OpenApiParameter("dir", str, enum=["asc", "desc"]),
            OpenApiParameter("after", str, description="next of the previous page"),
            OpenApiParameter("per_page", int, description=f"1 to {MAX_PER_PAGE}"),
        ],
        responses=MessagePageSerializer,
    )
    def get(self, request: Request, pk: int) -> Response:
        folder = views.get_folder_for_user(request.user, pk)
        # All rows of this folder path (UIDVALIDITY eras) list as one folder, as on the page.
        eras = Folder.objects.filter(account_id=folder.account_id, name=folder.name)
        params = request.query_params
        page = browse.folder_page(
            list(eras.values_list("pk", flat=True)),
            sort=params.get("sort", "date"),
            descending=params.get("dir", "desc") != "asc",
            after=params.get("after"),
            per_page=_per_page(params.get("per_page", "")),
        )
        rows = MessageSerializer(page.rows, many=True).data
        return Response({"results": rows, "next": page.next_cursor})


def _per_page(text: str) -> int:
    return min(max(int(text), 1), MAX_PER_PAGE) if text.isdigit() else browse.PER_PAGE


class MessageDetail(APIView):
    @extend_schema(responses=MessageDetailSerializer)
    def get(self, request: Request, pk: int) -> Response:
        message = views.get_message_for_user(request.user, pk)
        try:
            parts = build_view(get_store().get(message.blob_id)).parts
        except BlobError:
            parts = []
        record(request, "message.open", message)
        return Response(MessageDetailSerializer(message, context={"parts": parts}).data)


class MessageSource(APIView):
    @extend_schema(responses={(200, "message/rfc822"): FILE})
    def get(self, request: Request, pk: int):
        return views.message_download(django_request(request), pk)


class MessagePart(APIView):
    @extend_schema(responses={(200, "application/octet-stream"): FILE})
    def get(self, request: Request, pk: int, index: int):
        return views.message_part(django_request(request), pk, index)


class Search(APIView):
    @extend_schema(parameters=SEARCH_FIELDS, responses=SearchPageSerializer)
    def get(self, request: Request) -> Response:
        accounts = views.accounts_for_user(request.user)
        form = SearchForm(request.query_params, accounts=accounts)
        if not form.is_valid():
            raise ValidationError(form.errors.get_json_data())
        q = views.scope_search(form.to_query(), request.user)
        if q.empty and not q.has_filters:
            raise ValidationError({"q": "Give words or a filter."})
        after = request.query_params.get("after", "")
        page = search.search(q, after=int(after) if after.isdigit() else None)
        rows = MessageSerializer([hit.message for hit in page.hits], many=True).data
        return Response({"results": rows, "next_after": page.next_after})


class Export(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("scope", str, enum=["account", "folder", "search"], required=True),
            OpenApiParameter("account", int),
            OpenApiParameter("folder", int),
            OpenApiParameter("fmt", str, enum=["eml", "mbox"]),
            *SEARCH_FIELDS[:-1],
        ],
        responses={(200, "application/zip"): FILE},
    )
    def get(self, request: Request):
        return views_transfer.export_view(django_request(request))
