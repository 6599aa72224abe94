"""Accounts over the API: list and read what the user may see; create, change, delete and test
for administrators and operators. Thin over accounts.forms and accounts.services."""

from __future__ import annotations

from dataclasses import asdict

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import Throttled
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.forms import AccountForm
from accounts.models import Account
from api.auth import record
from api.forms import bound_form
from api.serializers import (
    AccountSerializer,
    AccountWriteSerializer,
    ArchiveAccountSerializer,
    ConnectionReportSerializer,
)
from backupweb import ratelimit
from backupweb.access import STAFF, accounts_visible_to, get_account_for_user, is_staff_role

VIEWERS_SEE = "Viewers see the granted accounts, each with its id and name only."


def visible_account(request: Request, pk: int) -> Account:
    """One live account the user may see, or 404 (backupweb.access)."""
    return get_account_for_user(request.user, pk, Account.objects.active())


def serializer_for(request: Request) -> type[AccountSerializer | ArchiveAccountSerializer]:
    """Administrators and operators see an account's settings; viewers only its name, as the
    archive pages show them (the account pages are not theirs)."""
    return AccountSerializer if is_staff_role(request.user) else ArchiveAccountSerializer


class AccountList(APIView):
    write_roles = STAFF

    @extend_schema(responses=AccountSerializer(many=True), description=VIEWERS_SEE)
    def get(self, request: Request) -> Response:
        accounts = accounts_visible_to(request.user, Account.objects.active()).order_by("name")
        return Response(serializer_for(request)(accounts, many=True).data)

    @extend_schema(request=AccountWriteSerializer, responses={201: AccountSerializer})
    def post(self, request: Request) -> Response:
        account = bound_form(AccountForm, request.data).save()
        record(request, "account.create", account, host=account.host, user=account.username)
        return Response(AccountSerializer(account).data, status=status.HTTP_201_CREATED)


class AccountDetail(APIView):
    write_roles = STAFF

    @extend_schema(responses=AccountSerializer, description=VIEWERS_SEE)
    def get(self, request: Request, pk: int) -> Response:
        return Response(serializer_for(request)(visible_account(request, pk)).data)

    @extend_schema(request=AccountWriteSerializer, responses=AccountSerializer)
    def patch(self, request: Request, pk: int) -> Response:
        account = visible_account(request, pk)
        form = bound_form(AccountForm, request.data, account)
        form.save()
        record(request, "account.change", account, fields=sorted(form.changed_data))
        return Response(AccountSerializer(account).data)

    put = patch

    @extend_schema(
        parameters=[OpenApiParameter("delete_archive", bool, description="also its archive")],
        responses={204: None},
    )
    def delete(self, request: Request, pk: int) -> Response:
        account = visible_account(request, pk)
        delete_archive = request.query_params.get("delete_archive") in ("1", "true", "yes")
        record(request, "account.delete", account, archive_deleted=delete_archive)
        services.delete_account(account, delete_archive, request.user.get_username())
        return Response(status=status.HTTP_204_NO_CONTENT)


class AccountTest(APIView):
    roles = STAFF

    @extend_schema(request=None, responses=ConnectionReportSerializer)
    def post(self, request: Request, pk: int) -> Response:
        account = visible_account(request, pk)
        # The same per-user brake as the page: each test connects wherever the account says.
        limit = settings.CONNECTION_TESTS_PER_MINUTE
        if not ratelimit.allow(f"connection-test:{request.user.pk}", limit, 60):
            raise Throttled(60, f"At most {limit} connection tests a minute.")
        report = services.run_test(account)
        record(request, "account.test", account, ok=report.ok)
        return Response(ConnectionReportSerializer(asdict(report)).data)
