"""The account form (create, edit, test before saving), the delete form and the import form."""

from __future__ import annotations

import re

from django import forms

from accounts import oauth_clients, presets
from accounts.models import Account
from mail.tls import normalize_fingerprint

# A host name or an IP address: no scheme, path, port or spaces.
HOST_RE = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[^\s/:@\[\]]+|[0-9A-Fa-f:]+)$")
# Fields a connection test does not need: their errors do not stop a test.
NOT_NEEDED_FOR_TEST = {"name", "notes"}


class AccountForm(forms.ModelForm):
    provider = forms.ChoiceField(
        choices=presets.CHOICES,
        initial="custom",
        help_text="Fills in the server, port and security below; you can still edit them.",
    )
    password = forms.CharField(
        label="Password or app password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )

    class Meta:
        model = Account
        fields = [
            "name",
            "provider",
            "protocol",
            "host",
            "port",
            "security",
            "auth_method",
            "username",
            "password",
            "tls_verify",
            "tls_fingerprint",
            "notes",
            "mass_deletion_percent",
            "mass_deletion_count",
        ]
        labels = {"host": "Server", "username": "User name", "auth_method": "Sign in with"}
        help_texts = {
            "tls_verify": "Check the server's certificate against the trusted authorities.",
            "tls_fingerprint": "For a self-signed certificate: trust exactly the certificate "
            "with this SHA-256 fingerprint instead.",
            "mass_deletion_percent": "A backup warns (dashboard, notification) when more than "
            "this share of the account's messages vanished from the server since the last run.",
            "mass_deletion_count": "... or more than this many. A whole folder gone always warns.",
        }
        widgets = {"notes": forms.Textarea(attrs={"rows": 3}), "auth_method": forms.RadioSelect}

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["port"].widget.attrs.update(min=1, max=65535)
        self.fields["host"].widget.attrs.update(autocomplete="off", spellcheck="false")
        if self.instance.has_secret:
            self.fields["password"].help_text = "Leave empty to keep the stored password."
        # OAuth2 accounts get their user name from the sign-in; password accounts must give it.
        self.fields["username"].required = False
        self.fields["auth_method"].required = False  # absent (CSV import, old clients): password
        self.fields["mass_deletion_percent"].required = False
        self.fields["mass_deletion_count"].required = False
        self.fields["auth_method"].help_text = (
            "OAuth2: sign in with the provider (Google, Microsoft, or the one configured here) "
            "after saving; the refresh token is stored encrypted and no password is needed."
        )

    def clean_mass_deletion_percent(self) -> int:
        percent = self._threshold("mass_deletion_percent")
        if not 0 <= percent <= 100:
            raise forms.ValidationError("A share is a number from 0 to 100.")
        return percent

    def clean_mass_deletion_count(self) -> int:
        return self._threshold("mass_deletion_count")

    def _threshold(self, name: str) -> int:
        """Left out (CSV import, older clients): the account keeps what it had, or the default."""
        value = self.cleaned_data.get(name)
        return getattr(self.instance, name) if value is None else value

    def clean_host(self) -> str:
        host = self.cleaned_data["host"].strip().lower()
        if not HOST_RE.match(host):
            raise forms.ValidationError("Enter a server name or IP address only (no scheme, port).")
        return host.strip("[]")

    def clean_port(self) -> int:
        port = self.cleaned_data["port"]
        if not 1 <= port <= 65535:
            raise forms.ValidationError("A port is a number from 1 to 65535.")
        return port

    def clean_auth_method(self) -> str:
        return self.cleaned_data.get("auth_method") or Account.AuthMethod.PASSWORD

    def clean_tls_fingerprint(self) -> str:
        try:
            return normalize_fingerprint(self.cleaned_data["tls_fingerprint"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean(self) -> dict:
        data = super().clean()
        if data.get("auth_method") == Account.AuthMethod.OAUTH2:
            return data  # the sign-in provides the token and the user name
        if not data.get("username"):
            self.add_error("username", "Enter the user name.")
        if not data.get("password") and not self.instance.has_secret:
            self.add_error("password", "Enter the password or app password.")
        return data

    def connection_errors(self) -> dict:
        """The errors that stop a connection test (a duplicate name does not)."""
        self.is_valid()
        return {k: v for k, v in self.errors.items() if k not in NOT_NEEDED_FOR_TEST}

    def account_to_test(self) -> Account:
        """An unsaved account with the form's values, its password encrypted like a saved one."""
        account = self.instance  # _post_clean copied the cleaned values onto it
        if self.cleaned_data.get("password"):
            account.set_secret(self.cleaned_data["password"])
        if account.uses_oauth:
            self._follow_oauth_provider(account)
        return account

    def save(self, commit: bool = True) -> Account:
        account = super().save(commit=False)
        if self.cleaned_data.get("password"):
            account.set_secret(self.cleaned_data["password"])
        if account.uses_oauth:
            self._follow_oauth_provider(account)
        if commit:
            account.save()
        return account

    @staticmethod
    def _follow_oauth_provider(account: Account) -> None:
        """The provider follows the preset; another provider's tokens are useless, so drop them."""
        key = oauth_clients.provider_key_for(account.provider)
        if account.oauth_provider and account.oauth_provider != key:
            account.oauth_refresh_encrypted = account.oauth_access_encrypted = ""
            account.oauth_access_expires_at = None
        account.oauth_provider = key


class DeleteForm(forms.Form):
    delete_archive = forms.BooleanField(
        label="Also delete all mail archived from this account, permanently",
        required=False,
    )


class ImportForm(forms.Form):
    file = forms.FileField(label="CSV file")
    existing = forms.ChoiceField(
        label="Accounts whose name already exists",
        choices=[("skip", "Skip them"), ("update", "Update them from the file")],
        initial="skip",
        widget=forms.RadioSelect,
    )
    valid_only = forms.BooleanField(
        label="Import the valid rows even if some rows have errors",
        required=False,
    )
