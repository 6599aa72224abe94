"""API tokens in the Django admin: administrators see every user's tokens (never the tokens
themselves, only their first characters) and revoke any of them at once."""

from __future__ import annotations

from django.contrib import admin, messages

import audit
from users import api_tokens
from users.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["prefix", "user", "name", "scope", "created_at", "expires_at",
                    "last_used_at", "revoked_at"]  # fmt: skip
    list_filter = ["scope", "revoked_at"]
    search_fields = ["user__username", "name", "prefix"]
    readonly_fields = [f.name for f in ApiToken._meta.fields if f.name != "digest"]
    exclude = ["digest"]
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False  # made on the tokens page or by `manage.py api_token`, shown once there

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # revoked, not deleted: the row says when it stopped working

    @admin.action(description="Revoke the selected tokens", permissions=["view"])
    def revoke(self, request, queryset) -> None:
        revoked = [row for row in queryset if api_tokens.revoke(row)]
        for row in revoked:
            audit.record(request, "api_token.revoke", row, user=row.user.get_username())
        messages.success(request, f"{len(revoked)} token(s) revoked.")
