"""Make a personal access token for the REST API from the command line (printed once)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

import audit
from users import api_tokens


class Command(BaseCommand):
    help = "Create an API token for a user; it is printed once and stored only as a hash."

    def add_arguments(self, parser) -> None:
        parser.add_argument("user", help="the user's name")
        parser.add_argument("--scope", choices=api_tokens.SCOPES, default="read")
        parser.add_argument("--expires", type=int, metavar="DAYS", help="days until it expires")
        parser.add_argument("--name", default="", help="a label to recognise it by")

    def handle(self, *args, user: str, scope: str, expires: int | None, name: str, **options):
        owner = get_user_model().objects.filter(username=user, is_active=True).first()
        if owner is None:
            raise CommandError(f"No active user named {user!r}.")
        try:
            row, token = api_tokens.create(owner, scope, expires, name or "command line")
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        audit.record("command line", "api_token.create", row, user=owner.username, scope=scope)
        self.stdout.write(token)
