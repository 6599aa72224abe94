"""Re-encrypt every stored secret with the first of FERNET_KEYS (`manage.py rotate_keys`).

Resumable: a secret already readable with the first key alone is left as it is, and each row
is written on its own, so a rotation stopped halfway is finished by running it again. Every
rotation is audit-logged (counts and row ids, never a secret).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db import models

from accounts import secrets
from accounts.models import Account, OAuthClient

log = logging.getLogger("backupweb.audit")

# Every (model, field) holding a Fernet token. Other apps storing secrets add theirs here.
SECRET_FIELDS: list[tuple[type[models.Model], str]] = [
    (Account, "secret_encrypted"),
    (Account, "oauth_refresh_encrypted"),
    (Account, "oauth_access_encrypted"),
    (OAuthClient, "client_secret_encrypted"),
]


@dataclass
class RotationResult:
    rotated: int = 0
    current: int = 0  # already under the first key
    failed: list[str] = field(default_factory=list)  # "Model #pk": undecryptable


def _under_first_key(token: str) -> bool:
    try:
        Fernet(settings.FERNET_KEYS[0].encode()).decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def rotate_all(progress: Callable[[str], None] = lambda line: None) -> RotationResult:
    result = RotationResult()
    log.info("key rotation started with %d key(s) configured", len(settings.FERNET_KEYS))
    for model, name in SECRET_FIELDS:
        rows = model._base_manager.exclude(**{name: ""}).values_list("pk", name)
        for pk, token in rows.iterator():
            label = f"{model.__name__} #{pk}"
            if _under_first_key(token):
                result.current += 1
                continue
            try:
                fresh = secrets.rotate(token)
            except secrets.SecretError:
                result.failed.append(label)
                log.error("key rotation: %s cannot be decrypted with any configured key", label)
                continue
            # Only if nobody changed it meanwhile: a concurrent edit already wrote a fresh token.
            model._base_manager.filter(pk=pk, **{name: token}).update(**{name: fresh})
            result.rotated += 1
            progress(f"{label}: re-encrypted")
    log.info(
        "key rotation finished: %d re-encrypted, %d already current, %d failed",
        result.rotated,
        result.current,
        len(result.failed),
    )
    return result
