"""OAuth2 tokens never appear in clear in the database, the logs, the pages or task arguments.

Everything that handles tokens runs once: the browser sign-in, the device sign-in, connection
tests, a backup run sent through the task queue (with a token refused mid-way and refreshed),
a revoked refresh token, the admin's client secret, and every page that shows the account.
Then every token the provider issued is looked for, raw and inside base64 SASL payloads.
"""

from __future__ import annotations

import base64
import logging
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.urls import reverse

from accounts.models import Account
from jobs import runner
from jobs.models import Job
from mail.sasl import initial_response
from tests.accounts.test_no_secret_leaks import database_bytes
from tests.accounts.test_oauth_views import provider_answer
from tests.corpus import pick
from tests.servers.mailbox import seed_mailbox
from tests.servers.oauth import CLIENT_SECRET, configure_generic

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "sqlite", reason="greps the SQLite file"),
]


def sasl_forms(token: str, username: str, dovecot) -> list[bytes]:
    """The token as it would travel inside an XOAUTH2 or OAUTHBEARER exchange."""
    forms = []
    for mechanism in ("XOAUTH2", "OAUTHBEARER"):
        payload = initial_response(mechanism, username, token, dovecot.host, dovecot.imap_port)
        forms.append(base64.b64encode(payload))
    return forms


def test_no_token_in_clear_in_the_database_logs_pages_or_task_arguments(
    admin_client, settings, oauth_provider, oauth_dovecot, caplog, monkeypatch
):
    caplog.set_level(logging.DEBUG)
    configure_generic(settings, oauth_provider)
    settings.SITE_URL = "http://testserver"
    user = oauth_dovecot.add_user()
    seed_mailbox(oauth_dovecot, user, pick(without=("malformed",), limit=4))
    pages: list[bytes] = []
    sent: list[tuple] = []
    monkeypatch.setattr(  # what would go to Redis: the task's name and its arguments
        "backupweb.celery.app.send_task",
        lambda name, args=(), **kw: sent.append((args, kw)) if name == "jobs.run_job" else None,
    )

    data = {
        "name": "Leaky?", "provider": "custom", "protocol": "imap", "host": oauth_dovecot.host,
        "port": oauth_dovecot.imap_port, "security": "none", "auth_method": "oauth2",
        "username": "", "password": "", "tls_verify": "on", "tls_fingerprint": "", "notes": "",
    }  # fmt: skip
    admin_client.post(reverse("accounts:new"), data)
    account = Account.objects.get(name="Leaky?")
    start = admin_client.get(reverse("accounts:oauth-start", args=[account.pk]))
    back = provider_answer(start["Location"], user.username)
    pages.append(admin_client.get(back, follow=True).content)
    pages.append(admin_client.post(reverse("accounts:test", args=[account.pk])).content)

    # The device flow too (it replaces the first sign-in's tokens).
    device = admin_client.post(reverse("accounts:oauth-device", args=[account.pk]))
    pages.append(device.content)
    code = device.content.decode().split('id="device-user-code">')[1].split("<")[0]
    oauth_provider.approve_device(code, user.username)
    poll = reverse("accounts:oauth-device-poll", args=[account.pk])
    admin_client.post(poll, HTTP_HX_REQUEST="true")

    # A backup through the queue, with the access token refused so it is refreshed.
    oauth_provider.expire_access_tokens(user.username)
    job = Job.objects.create(name="Leak check", account=account, kind=Job.Kind.BACKUP)
    with_queue = admin_client.post(reverse("jobs:run-now", args=[job.pk]), follow=True)
    pages.append(with_queue.content)
    run_id = sent[-1][0][0]
    run = runner.execute(run_id)
    assert run.state == "succeeded", run.error

    # Revoked: needs re-authorisation, and the pages say so.
    oauth_provider.revoke_refresh_tokens(user.username)
    pages.append(admin_client.post(reverse("accounts:test", args=[account.pk])).content)
    for url in (
        reverse("dashboard"),
        account.get_absolute_url(),
        reverse("accounts:oauth", args=[account.pk]),
        reverse("accounts:edit", args=[account.pk]),
        reverse("accounts:list"),
        run.get_absolute_url(),
        reverse("admin:accounts_oauthclient_changelist"),
    ):
        pages.append(admin_client.get(url).content)

    account.refresh_from_db()
    assert account.needs_reauth and b"needs re-authorisation" in pages[-7]
    assert urlsplit(start["Location"]).netloc  # it all ran against the provider
    assert all(args == (run_id,) for args, _kw in sent)  # only the run's id travels
    tokens = [t for t in oauth_provider.issued if t]
    assert len(tokens) >= 6  # sign-in, device sign-in, refreshes: access and refresh tokens
    everything = database_bytes()
    for token in tokens:
        needles = [token.encode(), *sasl_forms(token, user.username, oauth_dovecot)]
        for needle in needles:
            assert needle not in everything, "a token in the database file"
            assert needle.decode() not in caplog.text, "a token in the logs"
            assert all(needle not in page for page in pages), "a token in a page"
            assert needle.decode() not in repr(sent), "a token in the task arguments"
    assert CLIENT_SECRET.encode() not in everything  # from the environment, never stored
