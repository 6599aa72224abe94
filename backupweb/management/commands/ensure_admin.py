"""Create the first administrator when there is no user yet."""

from __future__ import annotations

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create an admin user on first start (from DJANGO_SUPERUSER_* or a generated password)."

    def handle(self, *args, **options):
        User = get_user_model()
        if User.objects.exists():
            return
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME") or "admin"
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD")
        generated = not password
        if generated:
            password = secrets.token_urlsafe(15)
        email = os.environ.get("DJANGO_SUPERUSER_EMAIL", "")
        User.objects.create_superuser(username=username, email=email, password=password)
        if generated:
            # Printed once, to the terminal that started the app; never logged.
            self.stdout.write(
                f"\nCreated administrator '{username}' with password: {password}\n"
                "It is shown only this once: change it after logging in.\n"
            )
        else:
            self.stdout.write(f"Created administrator '{username}'.")
