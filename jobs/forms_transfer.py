"""Forms for sync and restore jobs (the job form plus a destination and their own options), and
for bulk migrations."""

from __future__ import annotations

from django import forms

from accounts.models import Account
from jobs.engine.copying.mapping import parse_rules
from jobs.forms import JobForm, lines_of
from jobs.models import Job

MIRROR_WARNING = (
    "Deletes on the destination what was deleted on the source since the last run. A sync that "
    "mirrors deletions is not a backup: a wiped source wipes the copy too."
)


class _TransferForm(JobForm):
    kind_value = ""
    fields_template = ""
    what_legend = "What to copy"

    class Meta(JobForm.Meta):
        fields = [*JobForm.Meta.fields, "destination"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [(self.kind_value, Job.Kind(self.kind_value).label)]
        self.fields["kind"].initial = self.kind_value
        self.fields["kind"].widget = forms.HiddenInput()
        self.fields["destination"].required = True
        self.fields["destination"].queryset = Account.objects.active().filter(protocol="imap")
        self.fields["destination"].help_text = "An IMAP account the messages are copied into."

    def clean(self) -> dict:
        data = super().clean()
        source, dest = data.get("account"), data.get("destination")
        if source and dest and source.pk == dest.pk:
            self.add_error("destination", "Choose another account than the source.")
        return data


def encode_8bit_field() -> forms.BooleanField:
    """The opt-in rewrite of 8-bit header bytes (sync and restore)."""
    return forms.BooleanField(
        label="Encode 8-bit headers", required=False,
        help_text="Off: every message is copied byte for byte. On: header bytes over 127 are "
        "sent as RFC 2047 encoded-words, for a destination that replaces them (Cyrus).",
    )  # fmt: skip


class SyncJobForm(_TransferForm):
    kind_value = Job.Kind.SYNC
    fields_template = "jobs/_sync_fields.html"

    rules = forms.CharField(
        label="Folder mapping rules",
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="One per line, with / between levels on both sides: 'Old/Stuff -> Archive/Old', "
        "'Projects/* -> Work/*', or 'Private ->' to leave a folder out. Special-use folders "
        "(Sent, Drafts, Trash, Junk, Archive) are mapped automatically.",
    )
    sync_flags = forms.BooleanField(
        label="Carry flag changes over on re-runs", required=False,
        help_text="Read/unread, flagged and keywords changed on the source since the last run.",
    )  # fmt: skip
    gmail_dedupe = forms.BooleanField(
        label="Gmail: copy each message once", required=False, initial=True,
        help_text="Into its most specific label folder; All Mail only adds archived mail.",
    )  # fmt: skip
    mirror_deletions = forms.BooleanField(
        label="Mirror deletions", required=False, help_text=MIRROR_WARNING
    )
    encode_8bit_headers = encode_8bit_field()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["account"].label = "Source account"
        self.fields["account"].queryset = Account.objects.active().filter(protocol="imap")
        options = self.instance.options or {}
        if self.instance.pk:
            self.fields["rules"].initial = options.get("rules", "")
            for name in ("sync_flags", "mirror_deletions", "encode_8bit_headers"):
                self.fields[name].initial = bool(options.get(name))
            self.fields["gmail_dedupe"].initial = options.get("gmail_dedupe", True) is not False

    def clean_rules(self) -> str:
        try:
            parse_rules(self.cleaned_data["rules"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None
        return self.cleaned_data["rules"].strip()

    def options_json(self) -> dict:
        data = self.cleaned_data
        return {
            **super().options_json(),
            "rules": data["rules"],
            "sync_flags": bool(data.get("sync_flags")),
            "gmail_dedupe": bool(data.get("gmail_dedupe")),
            "mirror_deletions": bool(data.get("mirror_deletions")),
            "encode_8bit_headers": bool(data.get("encode_8bit_headers")),
        }


class RestoreJobForm(_TransferForm):
    kind_value = Job.Kind.RESTORE
    fields_template = "jobs/_restore_fields.html"
    what_legend = "What to restore"

    into = forms.CharField(
        label="Restore under a new folder",
        required=False,
        max_length=200,
        help_text="e.g. 'Restored 2026-11-21' (levels separated by /). Empty: into the original "
        "folders.",
    )
    include_deleted = forms.BooleanField(
        label="Include messages deleted on the server", required=False, initial=True
    )
    message_ids = forms.CharField(widget=forms.HiddenInput(), required=False)
    encode_8bit_headers = encode_8bit_field()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["account"].label = "Archived account (restore from)"
        dropped = (
            "include",
            "exclude",
            "since",
            "before",
            "max_message_size_mb",
            "skip_trash_and_junk",
            "notify_stale_days",  # a restore runs once: "no success for N days" means nothing
        )
        for name in dropped:
            self.fields.pop(name)  # restore selects by folder, selection or search
        self.fields["folders"].help_text = "Only these archived folders, one per line. Empty: all."
        options = self.instance.options or {}
        if self.instance.pk:
            self.fields["into"].initial = options.get("into", "")
            self.fields["include_deleted"].initial = options.get("include_deleted", True)
            self.fields["encode_8bit_headers"].initial = bool(options.get("encode_8bit_headers"))
        ids = options.get("message_ids")
        if ids is not None:
            self.fields["message_ids"].initial = ",".join(str(i) for i in ids)

    def clean_message_ids(self) -> list[int] | None:
        text = self.cleaned_data["message_ids"].strip()
        if not text:
            return None
        try:
            return [int(part) for part in text.split(",") if part.strip()]
        except ValueError:
            raise forms.ValidationError("Not a list of message ids.") from None

    def options_json(self) -> dict:
        data = self.cleaned_data
        return {
            "folders": lines_of(data["folders"]) or None,
            "into": data["into"].strip().strip("/"),
            "include_deleted": bool(data.get("include_deleted")),
            "message_ids": data["message_ids"],
            "encode_8bit_headers": bool(data.get("encode_8bit_headers")),
        }


def form_class_for(kind: str) -> type[JobForm]:
    return {Job.Kind.SYNC: SyncJobForm, Job.Kind.RESTORE: RestoreJobForm}.get(kind, JobForm)


class BulkForm(forms.Form):
    name = forms.CharField(max_length=150, help_text="e.g. 'Move to the new provider, batch 1'.")
    file = forms.FileField(label="CSV file")
    concurrency = forms.IntegerField(
        label="Migrations at a time", min_value=1, max_value=50, initial=2
    )
    mirror_deletions = forms.BooleanField(required=False, help_text=MIRROR_WARNING)
