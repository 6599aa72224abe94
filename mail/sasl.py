"""OAuth2 logins for IMAP and POP3: SASL XOAUTH2 and OAUTHBEARER (RFC 7628) with a bearer token.

`mail.connect` calls these for accounts whose `auth_method` is "oauth2"; the account gives the
token with `get_access_token(failed="")` (accounts/oauth_tokens.py refreshes it). The engine
stays free of Django: this module only speaks SASL.

Mechanism: the first of XOAUTH2 / OAUTHBEARER in the server's capability list, which is the
order the server prefers (Dovecot lists them as configured); XOAUTH2 when it names neither,
since Gmail and Outlook both accept it.
"""

from __future__ import annotations

import base64
import imaplib
import poplib
from collections.abc import Iterable
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from mail import errors

MECHANISMS = ("XOAUTH2", "OAUTHBEARER")


def uses_oauth(account: Any) -> bool:
    return getattr(account, "auth_method", "password") == "oauth2"


def bearer_token(account: Any, failed: str = "") -> str:
    """The account's access token; `failed` is the one the server just refused."""
    try:
        return account.get_access_token(failed=failed)
    except errors.EngineError:
        raise
    except Exception as exc:  # accounts.secrets.SecretError: its text holds no secret
        raise errors.SecretUnavailable(str(exc)) from None


def choose_mechanism(capabilities: Iterable[bytes | str]) -> str:
    for capability in capabilities:
        text = capability.decode() if isinstance(capability, bytes) else str(capability)
        name = text.upper().removeprefix("AUTH=")
        if text.upper().startswith("AUTH=") and name in MECHANISMS:
            return name
    return "XOAUTH2"


def initial_response(mechanism: str, username: str, token: str, host: str, port: int) -> bytes:
    if mechanism == "OAUTHBEARER":
        authzid = username.replace("=", "=3D").replace(",", "=2C")
        text = f"n,a={authzid},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01"
    else:
        text = f"user={username}\x01auth=Bearer {token}\x01\x01"
    return text.encode()


def imap_login(client: IMAPClient, account: Any, token: str, host: str, port: int) -> str:
    """AUTHENTICATE with the token; returns the mechanism. Raises LoginError when refused."""
    mechanism = choose_mechanism(client.capabilities())
    payload = initial_response(mechanism, account.username, token, host, port)
    answered: list[bool] = []

    def answer(_challenge: bytes) -> bytes:
        # A second challenge is the server's JSON error: answer it empty so it sends its NO
        # (RFC 7628 3.2.3) instead of the token a second time.
        if answered:
            return b""
        answered.append(True)
        return payload

    try:
        client._imap.authenticate(mechanism, answer)
    except imaplib.IMAP4.abort:
        raise  # the connection broke: not a refusal
    except imaplib.IMAP4.error as exc:
        raise LoginError(str(exc)) from None
    return mechanism


def pop3_login(client: poplib.POP3, account: Any, token: str, host: str, port: int) -> str:
    """AUTH XOAUTH2 with an initial response (RFC 5034); raises poplib.error_proto if refused."""
    payload = initial_response("XOAUTH2", account.username, token, host, port)
    client._putcmd("AUTH XOAUTH2 " + base64.b64encode(payload).decode("ascii"))
    line, _ = client._getline()
    if line.startswith(b"+OK"):
        return "XOAUTH2"
    if line.startswith(b"+"):  # the error challenge: an empty answer ends the exchange
        client._putcmd("")
        line, _ = client._getline()
        if line.startswith(b"+OK"):
            return "XOAUTH2"
    raise poplib.error_proto(line)
