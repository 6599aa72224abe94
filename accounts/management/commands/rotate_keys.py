"""Re-encrypt every stored secret with the first of FERNET_KEYS; resumable, audit-logged."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts.rotation import rotate_all


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret with the first key of FERNET_KEYS. Put the new key "
        "first and keep the old ones until this has run; running it again is safe."
    )

    def handle(self, *args, **options) -> None:
        result = rotate_all(progress=self.stdout.write)
        self.stdout.write(
            f"{result.rotated} re-encrypted, {result.current} already under the first key, "
            f"{len(result.failed)} failed."
        )
        if result.failed:
            raise CommandError(
                f"Cannot decrypt {', '.join(result.failed)} with any configured key; "
                "keep the old key in FERNET_KEYS and run again."
            )
