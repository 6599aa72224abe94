"""The accounts app: wires the Account model to the OAuth2 token store at start-up."""

from __future__ import annotations

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self) -> None:
        from accounts import oauth_tokens
        from accounts.models import Account

        # The model asks for tokens through this callable: oauth_tokens imports the model.
        Account.token_source = staticmethod(oauth_tokens.access_token)
