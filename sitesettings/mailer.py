"""Outgoing mail with the site settings: the SMTP server the page set, else EMAIL_URL's.

Every connection goes through the outbound policy (an SMTP host on an internal address is
refused like a mail server would be); a failure comes back as one sentence, never a secret.
"""

from __future__ import annotations

import smtplib

from django.core.mail import EmailMessage, get_connection

from mail import outbound
from mail.errors import HostNotAllowed
from sitesettings.values import Email, site_settings

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
TIMEOUT_SECONDS = 20


def connection(email: Email):
    """A mail connection for `email`; the environment's (EMAIL_URL) when it sets no host."""
    if not email.host:
        return get_connection()
    ssl = email.security == "ssl"
    return get_connection(
        SMTP_BACKEND,
        host=email.host,
        port=email.port or (465 if ssl else 587 if email.security == "starttls" else 25),
        username=email.username,
        password=email.password,
        use_tls=email.security == "starttls",
        use_ssl=ssl,
        timeout=TIMEOUT_SECONDS,
    )


def send_test_mail(to: str) -> tuple[bool, str]:
    """Send a short test message to `to`: (sent, a sentence saying what happened)."""
    email = site_settings().email
    server = f"{email.host}:{email.port or 'default port'}" if email.host else "EMAIL_URL"
    message = EmailMessage(
        "backupweb: test mail",
        "If you read this, backupweb can send mail.",
        email.sender,
        [to],
        connection=connection(email),
    )
    try:
        if email.host:
            outbound.check_host(email.host, email.port)
        with outbound.guarded():
            message.send()
    except (TimeoutError, HostNotAllowed, smtplib.SMTPException, OSError) as exc:
        return False, f"Test mail to {to} through {server} failed: {_reason(exc)}"
    return True, f"Test mail sent to {to} through {server}."


def _reason(exc: Exception) -> str:
    text = " ".join(str(exc).split())[:300] or type(exc).__name__
    return text.rstrip(".") + "."
