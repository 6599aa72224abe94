"""Account secrets encrypted with MultiFernet and bound to the row and field they belong to.

The plaintext wrapped by Fernet is JSON holding the owner's id and the field name beside the
secret, so a ciphertext copied onto another row (or into another field) fails to decrypt
instead of logging in as the wrong account.
"""

from __future__ import annotations

import json
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class SecretError(Exception):
    """A stored secret could not be decrypted: a missing key, or tampering."""


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise SecretError("No FERNET_KEYS configured.")
    return MultiFernet([Fernet(key.encode()) for key in keys])


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.FERNET_KEYS))


def encrypt(value: str, *, owner: str, field: str) -> str:
    payload = json.dumps({"o": owner, "f": field, "v": value}).encode()
    return fernet().encrypt(payload).decode()


def decrypt(token: str, *, owner: str, field: str) -> str:
    try:
        payload = json.loads(fernet().decrypt(token.encode()))
    except InvalidToken:
        raise SecretError(
            f"The stored {field} cannot be decrypted with the configured keys."
        ) from None
    if payload.get("o") != owner or payload.get("f") != field:
        raise SecretError(f"The stored {field} belongs to another account; refusing to use it.")
    return payload["v"]


def rotate(token: str) -> str:
    """Re-encrypt under the first key, keeping the bound payload as it is."""
    try:
        return fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretError("A stored secret cannot be decrypted with the configured keys.") from None
