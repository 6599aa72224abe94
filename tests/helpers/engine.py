"""Engine test helpers: accounts pointing at the test Dovecot, and reading the archive back."""

from __future__ import annotations

from accounts.models import Account
from archive.blobstore import get_store
from archive.models import Message
from tests.servers.dovecot import Dovecot, MailUser


def make_account(
    dovecot: Dovecot, user: MailUser, protocol: str = "imap", port: int | None = None, **fields
) -> Account:
    default_port = dovecot.imap_port if protocol == "imap" else dovecot.pop3_port
    account = Account(
        name=f"{user.username}-{protocol}-{port or ''}",
        protocol=protocol,
        host="127.0.0.1",
        port=port or default_port,
        security="none",
        username=user.username,
        **fields,
    )
    account.set_secret(user.password)
    account.save()
    return account


def archived(account: Account, folder: str | None = None, live: bool = True):
    """Message rows of an account (optionally one folder by display name)."""
    rows = Message.objects.filter(folder__account=account).select_related("folder", "blob")
    if folder is not None:
        rows = rows.filter(folder__name=folder)
    if live:
        rows = rows.filter(deleted_on_server_at__isnull=True)
    return rows


def archived_bytes(message: Message) -> bytes:
    return get_store().get(message.blob_id)
