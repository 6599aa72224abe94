"""Forms of the archive browser: search (one box and the advanced fields) and imports."""

from __future__ import annotations

from django import forms

from archive.query_language import QueryError, parse
from archive.search import FIELDS, SearchQuery

FLAG_CHOICES = [
    ("", "Any"),
    ("\\Seen", "Read"),
    ("-\\Seen", "Unread"),
    ("\\Flagged", "Flagged"),
    ("\\Answered", "Answered"),
    ("\\Draft", "Draft"),
]
TRISTATE = [("", "Any"), ("yes", "Yes"), ("no", "No")]


class SearchForm(forms.Form):
    q = forms.CharField(label="Search", required=False, max_length=500)
    subject = forms.CharField(label="Subject has", required=False, max_length=500)
    body = forms.CharField(label="Body has", required=False, max_length=500)
    from_addr = forms.CharField(label="From", required=False, max_length=500)
    to_addrs = forms.CharField(label="To", required=False, max_length=500)
    cc_addrs = forms.CharField(label="Cc", required=False, max_length=500)
    attachments = forms.CharField(label="Attachment name", required=False, max_length=500)
    account = forms.TypedChoiceField(label="Account", required=False, coerce=int, empty_value=None)
    folder = forms.IntegerField(required=False, widget=forms.HiddenInput)
    date_from = forms.DateField(
        label="From date", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label="To date", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    has_attachment = forms.ChoiceField(label="Has attachment", choices=TRISTATE, required=False)
    flag = forms.ChoiceField(label="Flags", choices=FLAG_CHOICES, required=False)
    deleted = forms.ChoiceField(label="Deleted on server", choices=TRISTATE, required=False)

    def __init__(self, *args, accounts=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["account"].choices = [("", "All accounts")] + [(a.pk, a.name) for a in accounts]

    def clean_q(self) -> SearchQuery:
        try:
            return parse(self.cleaned_data.get("q") or "")
        except QueryError as e:
            raise forms.ValidationError(str(e)) from None

    def to_query(self) -> SearchQuery:
        """The box's query (operators and all), with the advanced fields added to it."""
        d = self.cleaned_data
        typed = d.get("q") or SearchQuery()
        fields = self._fields_query()
        for name, value in vars(fields).items():
            mine = getattr(typed, name)
            if name in FIELDS and value:
                setattr(typed, name, f"{mine} {value}".strip())
            elif value not in (None, "") and mine in (None, ""):
                setattr(typed, name, value)
        return typed

    def _fields_query(self) -> SearchQuery:
        d = self.cleaned_data
        tri = {"yes": True, "no": False}
        return SearchQuery(
            subject=d.get("subject") or "",
            body=d.get("body") or "",
            from_addr=d.get("from_addr") or "",
            to_addrs=d.get("to_addrs") or "",
            cc_addrs=d.get("cc_addrs") or "",
            attachments=d.get("attachments") or "",
            account_id=d.get("account"),
            folder_id=d.get("folder"),
            date_from=d.get("date_from"),
            date_to=d.get("date_to"),
            has_attachment=tri.get(d.get("has_attachment") or ""),
            flag=d.get("flag") or "",
            deleted=tri.get(d.get("deleted") or ""),
        )


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(d, initial) for d in data]
        return [single(data, initial)]


class UploadForm(forms.Form):
    files = MultipleFileField(
        label="Files (mbox, .eml, or a zip of .eml files or of a Maildir)",
        help_text="Large archives: put them in the server's import folder instead.",
    )
    folder = forms.CharField(label="Into folder", max_length=200, initial="Imported")


class ServerImportForm(forms.Form):
    name = forms.CharField(max_length=1000, widget=forms.HiddenInput)
    folder = forms.CharField(label="Into folder", max_length=200, required=False)
