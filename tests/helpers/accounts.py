"""Accounts fixtures: an admin client, accounts pointing at the session's Dovecot, a mute server."""

from __future__ import annotations

from accounts.models import Account
from tests.servers.dovecot import Dovecot, MailUser


def dovecot_account(
    dovecot: Dovecot, user: MailUser, *, save: bool = True, password: str | None = None, **fields
) -> Account:
    """An account on the test Dovecot: plain IMAP unless `fields` say otherwise."""
    values = {
        "name": f"Account {user.username}",
        "protocol": "imap",
        "host": dovecot.host,
        "port": dovecot.imap_port,
        "security": "none",
        "username": user.username,
    }
    values.update(fields)
    account = Account(**values)
    account.set_secret(user.password if password is None else password)
    if save:
        account.save()
    return account
