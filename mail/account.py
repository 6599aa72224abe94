"""What the mail package needs of an account: any object with these attributes (an unsaved
`accounts.Account` too), so `mail/` never imports the accounts app."""

from __future__ import annotations

from typing import Protocol


class MailAccount(Protocol):
    protocol: str
    host: str
    port: int
    security: str  # "ssl" (implicit TLS), "starttls" or "none"
    username: str
    tls_verify: bool
    tls_fingerprint: str

    def get_secret(self) -> str: ...
