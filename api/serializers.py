"""What the API returns: plain fields of the models, never a secret.

Accounts show whether a secret is stored (`has_secret`), never the secret or its ciphertext;
jobs show whether they have their own notification URLs, never the URLs (they carry tokens).
Writes are validated by the pages' own forms (api/forms.py), so both keep one set of rules;
the write serializers here only describe the request bodies for the schema.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from rest_framework import serializers

from accounts.models import Account
from archive.models import Folder, Message
from audit.models import AuditEvent
from backupweb.access import role_of
from jobs.models import FolderRun, Job, JobRun


class AccountSerializer(serializers.ModelSerializer):
    has_secret = serializers.BooleanField(read_only=True)

    class Meta:
        model = Account
        fields = [
            "id", "name", "provider", "protocol", "host", "port", "security", "username",
            "auth_method", "tls_verify", "tls_fingerprint", "notes", "capabilities",
            "last_tested_at", "last_test_ok", "needs_reauth", "has_secret", "created_at",
            "updated_at",
        ]  # fmt: skip
        read_only_fields = fields


class ArchiveAccountSerializer(serializers.ModelSerializer):
    """What a viewer sees of a granted account, as on the archive pages: its name."""

    class Meta:
        model = Account
        fields = ["id", "name"]
        read_only_fields = fields


class AccountWriteSerializer(serializers.Serializer):
    """The request body of a create or change (validated by the account form)."""

    name = serializers.CharField()
    provider = serializers.CharField(required=False)
    protocol = serializers.ChoiceField(Account.Protocol.choices, required=False)
    host = serializers.CharField()
    port = serializers.IntegerField()
    security = serializers.ChoiceField(Account.Security.choices)
    auth_method = serializers.ChoiceField(Account.AuthMethod.choices, required=False)
    username = serializers.CharField(required=False)
    password = serializers.CharField(write_only=True, required=False)
    tls_verify = serializers.BooleanField(required=False)
    tls_fingerprint = serializers.CharField(required=False)
    notes = serializers.CharField(required=False)


class ConnectionReportSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    error = serializers.CharField()
    error_kind = serializers.CharField()
    fingerprint = serializers.CharField()
    capabilities = serializers.ListField(child=serializers.CharField())
    auth_mechanism = serializers.CharField()
    folders = serializers.ListField(child=serializers.DictField())
    elapsed = serializers.FloatField()


class JobSerializer(serializers.ModelSerializer):
    has_notify_urls = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = [
            "id", "name", "kind", "account", "destination", "options", "schedule",
            "interval_hours", "time_of_day", "weekdays", "cron", "enabled", "notify_on_failure",
            "notify_on_parked", "notify_on_auth_failure", "notify_on_success",
            "notify_stale_days", "has_notify_urls", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_has_notify_urls(self, job: Job) -> bool:
        return bool(job.notify_urls_encrypted)


class JobWriteSerializer(serializers.Serializer):
    """The request body of a create or change (validated by the job form of the kind)."""

    name = serializers.CharField()
    kind = serializers.ChoiceField(Job.Kind.choices)
    account = serializers.IntegerField()
    destination = serializers.IntegerField(required=False)
    schedule = serializers.ChoiceField(Job.Schedule.choices, required=False)
    interval_hours = serializers.IntegerField(required=False)
    time_of_day = serializers.TimeField(required=False)
    weekdays = serializers.ListField(child=serializers.IntegerField(), required=False)
    cron = serializers.CharField(required=False)
    enabled = serializers.BooleanField(required=False)
    folders = serializers.CharField(required=False, help_text="one folder per line")
    notify_urls = serializers.CharField(write_only=True, required=False)


class FolderRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = FolderRun
        fields = ["folder", "state", "total", "done", "bytes", "error", "started_at", "finished_at"]


class RunSerializer(serializers.ModelSerializer):
    class Meta:
        model = JobRun
        fields = [
            "id", "job", "account", "state", "trigger", "queued_at", "started_at",
            "finished_at", "cancel_requested", "folders_total", "folders_failed",
            "messages_total", "messages_fetched", "messages_parked", "bytes_fetched", "summary",
            "error", "warning", "vanished", "warning_acknowledged_at",
        ]  # fmt: skip


class RunDetailSerializer(RunSerializer):
    folders = FolderRunSerializer(many=True, read_only=True)

    class Meta(RunSerializer.Meta):
        fields = [*RunSerializer.Meta.fields, "folders", "log"]


class FolderSerializer(serializers.ModelSerializer):
    class Meta:
        model = Folder
        fields = [
            "id", "account", "name", "delimiter", "special_use", "uidvalidity",
            "message_count", "total_bytes", "deleted_on_server_at", "last_synced_at",
        ]  # fmt: skip


class MessageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Message
        fields = [
            "id", "folder", "uid", "subject", "from_addr", "to_addrs", "cc_addrs", "date",
            "internal_date", "size", "flags", "has_attachments", "message_id",
            "deleted_on_server_at",
        ]  # fmt: skip


class MessagePageSerializer(serializers.Serializer):
    results = MessageSerializer(many=True)
    next = serializers.CharField(allow_null=True, help_text="pass as `after` for the next page")


class SearchPageSerializer(serializers.Serializer):
    results = MessageSerializer(many=True)
    next_after = serializers.IntegerField(
        allow_null=True, help_text="pass as `after` for the next page"
    )


class PartSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    content_type = serializers.CharField()
    filename = serializers.CharField()
    size = serializers.IntegerField()
    is_attachment = serializers.BooleanField()


class MessageDetailSerializer(MessageSerializer):
    parts = serializers.SerializerMethodField()

    class Meta(MessageSerializer.Meta):
        fields = [*MessageSerializer.Meta.fields, "parts"]

    def get_parts(self, message: Message) -> list[dict]:
        parts = self.context.get("parts", [])
        return PartSerializer(parts, many=True).data


class UserSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()
    accounts = serializers.SerializerMethodField()

    class Meta:
        model = get_user_model()
        fields = ["id", "username", "email", "first_name", "last_name", "is_active", "role",
                  "accounts", "last_login"]  # fmt: skip

    def get_role(self, user) -> str | None:
        return role_of(user)

    def get_accounts(self, user) -> list[int]:
        profile = getattr(user, "profile", None)
        return sorted(profile.accounts.values_list("pk", flat=True)) if profile else []


class UserWriteSerializer(serializers.Serializer):
    """The request body of a change (validated by the users page's form)."""

    email = serializers.EmailField(required=False)
    first_name = serializers.CharField(required=False)
    last_name = serializers.CharField(required=False)
    is_active = serializers.BooleanField(required=False)
    role = serializers.ChoiceField(["administrator", "operator", "viewer"], required=False)
    accounts = serializers.ListField(child=serializers.IntegerField(), required=False)


class GrantsSerializer(serializers.Serializer):
    accounts = serializers.ListField(child=serializers.IntegerField())


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = ["id", "at", "actor", "ip", "action", "target_type", "target_id", "target",
                  "account_id", "details"]  # fmt: skip
