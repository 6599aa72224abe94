"""Fixtures for the archive tests: a blob store in a temp dir, an account and its folders."""

from __future__ import annotations

from accounts.models import Account
from archive.models import Folder


def make_account(name: str = "alice") -> Account:
    account = Account(name=name, host="imap.example.org", username=f"{name}@example.org")
    account.save()
    return account


def make_folder(account: Account, name: str = "INBOX", uidvalidity: int | None = 1) -> Folder:
    return Folder.objects.create(
        account=account, name=name, raw_name=name, delimiter="/", uidvalidity=uidvalidity
    )
