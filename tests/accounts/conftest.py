"""Accounts fixtures: an admin client, accounts pointing at the session's Dovecot, a mute server."""

from __future__ import annotations

import socket

import pytest
from django.contrib.auth import get_user_model

from accounts.models import Account
from tests.servers.dovecot import Dovecot, MailUser


@pytest.fixture
def admin_client(client, db):
    user = get_user_model().objects.create_superuser("alice", "alice@example.org", "pw-alice-1")
    client.force_login(user)
    return client


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


@pytest.fixture
def mute_server():
    """A port that accepts connections (the kernel completes the handshake) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]
