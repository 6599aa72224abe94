"""Sign an account in with OAuth2 from a terminal: the device-code flow, for headless installs."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts import oauth, oauth_clients, oauth_tokens
from accounts.models import Account


class Command(BaseCommand):
    help = (
        "Sign an account in with OAuth2 using a device code: open the printed address on any "
        "device, enter the code, and the refresh token is stored encrypted."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("account", help="the account's name (or its id)")

    def handle(self, *args, account: str, **options) -> None:
        row = _find(account)
        key = row.oauth_provider or oauth_clients.provider_key_for(row.provider)
        provider = oauth_clients.get(key)
        if provider is None:
            raise CommandError(f"No OAuth client is configured for {key} (see the README).")
        try:
            device = oauth.start_device_flow(provider)
            self.stdout.write(
                f"Open {device.verification_uri} and enter the code {device.user_code}"
            )
            if device.verification_uri_complete:
                self.stdout.write(f"(or open {device.verification_uri_complete})")
            self.stdout.write("Waiting for the approval…")
            self.stdout.flush()
            tokens = oauth.wait_for_device(provider, device)
            if row.auth_method != Account.AuthMethod.OAUTH2:
                row.auth_method = Account.AuthMethod.OAUTH2
            oauth_tokens.finish_sign_in(row, provider, tokens)
        except oauth.OAuthError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Signed in with {provider.label} as {row.username}.")


def _find(name: str) -> Account:
    accounts = Account.objects.active()
    row = accounts.filter(name=name).first()
    if row is None and name.isdigit():
        row = accounts.filter(pk=int(name)).first()
    if row is None:
        raise CommandError(f"No account named {name!r}.")
    return row
