"""Admin: OAuth client credentials (Google, Microsoft, a generic OAuth2 provider)."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from accounts import oauth_clients
from accounts.oauth_models import OAuthClient


class OAuthClientForm(forms.ModelForm):
    client_secret = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored encrypted. Leave empty to keep the stored secret (public clients have "
        "none).",
    )
    clear_client_secret = forms.BooleanField(required=False, label="Remove the stored secret")

    class Meta:
        model = OAuthClient
        fields = "__all__"

    def save(self, commit: bool = True) -> OAuthClient:
        client = super().save(commit=False)
        if self.cleaned_data.get("clear_client_secret"):
            client.client_secret_encrypted = ""
        elif self.cleaned_data.get("client_secret"):
            client.set_client_secret(self.cleaned_data["client_secret"])
        if commit:
            client.save()
        return client


@admin.register(OAuthClient)
class OAuthClientAdmin(admin.ModelAdmin):
    form = OAuthClientForm
    list_display = ("provider", "client_id", "has_secret", "updated_at")
    readonly_fields = ("redirect_url",)
    fieldsets = [
        (
            None,
            {"fields": ["provider", "name", "client_id", "client_secret", "clear_client_secret"]},
        ),
        ("Microsoft", {"fields": ["tenant"]}),
        (
            "Endpoints (empty: the provider's usual ones; required for a generic provider)",
            {
                "fields": [
                    "authorization_url",
                    "token_url",
                    "device_url",
                    "revocation_url",
                    "userinfo_url",
                    "scopes",
                ]
            },
        ),
        ("Register with the provider", {"fields": ["redirect_url"]}),
    ]

    @admin.display(boolean=True, description="secret stored")
    def has_secret(self, obj: OAuthClient) -> bool:
        return bool(obj.client_secret_encrypted)

    @admin.display(description="redirect URL")
    def redirect_url(self, obj: OAuthClient | None = None) -> str:
        return oauth_clients.redirect_url()
