"""Users, grants and the audit log over the API: administrators only, with an admin-scope
token. Thin over users.services (which audits each change) and the audit page's filters."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Account
from api.auth import django_request
from api.forms import bound_form
from api.serializers import (
    AuditEventSerializer,
    GrantsSerializer,
    UserSerializer,
    UserWriteSerializer,
)
from audit.views import filtered
from backupweb.access import ADMINISTRATOR, role_of
from users import services
from users.forms import UserForm

EVENTS_PER_PAGE = 200


class AdminView(APIView):
    roles = (ADMINISTRATOR,)
    scope = "admin"


class UserList(AdminView):
    @extend_schema(responses=UserSerializer(many=True))
    def get(self, request: Request) -> Response:
        users = get_user_model().objects.order_by("username").select_related("profile")
        return Response(UserSerializer(users, many=True).data)


class UserDetail(AdminView):
    @extend_schema(responses=UserSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(UserSerializer(get_object_or_404(get_user_model(), pk=pk)).data)

    @extend_schema(request=UserWriteSerializer, responses=UserSerializer)
    def patch(self, request: Request, pk: int) -> Response:
        """Change a user through the users page's form: nobody changes their own role or
        disables themselves."""
        target = get_object_or_404(get_user_model(), pk=pk)
        profile = services.profile_of(target)
        form = bound_form(
            UserForm, request.data, target,
            role=role_of(target) or profile.role,
            accounts=list(profile.accounts.values_list("pk", flat=True)),
            editing_self=target.pk == request.user.pk,
        )  # fmt: skip
        user = form.save(commit=False)
        changed = [f for f in form.changed_data if f not in ("role", "accounts")]
        role, accounts = form.cleaned_data["role"], form.cleaned_data["accounts"]
        services.save_user(django_request(request), user, role, accounts, created=False,
                           changed=changed)  # fmt: skip
        return Response(UserSerializer(get_user_model().objects.get(pk=pk)).data)


class UserGrants(AdminView):
    """The accounts a viewer may browse (administrators and operators see every account)."""

    @extend_schema(responses=GrantsSerializer)
    def get(self, request: Request, pk: int) -> Response:
        user = get_object_or_404(get_user_model(), pk=pk)
        return Response({"accounts": UserSerializer(user).data["accounts"]})

    @extend_schema(request=GrantsSerializer, responses=GrantsSerializer)
    def put(self, request: Request, pk: int) -> Response:
        user = get_object_or_404(get_user_model(), pk=pk)
        body = GrantsSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        wanted = set(body.validated_data["accounts"])
        accounts = list(Account.objects.active().filter(pk__in=wanted))
        if len(accounts) != len(wanted):
            raise ValidationError({"accounts": "Unknown account ids."})
        role = role_of(user) or services.profile_of(user).role
        services.save_user(django_request(request), user, role, accounts, created=False, changed=[])
        return Response({"accounts": sorted(a.pk for a in accounts)})


class AuditList(AdminView):
    @extend_schema(
        parameters=[
            OpenApiParameter(name, str)
            for name in ("actor", "action", "account", "ip", "since", "until", "q")
        ]
        + [OpenApiParameter("before", int, description="the last id of the previous page")],
        responses=AuditEventSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        events, _ = filtered(request.query_params)
        before = request.query_params.get("before", "")
        if before.isdigit():
            events = events.filter(pk__lt=int(before))
        rows = list(events.order_by("-pk")[:EVENTS_PER_PAGE])
        return Response(AuditEventSerializer(rows, many=True).data)
