"""OAuth2 logins against a real Dovecot whose `oauth2` passdb asks the local provider.

XOAUTH2 and OAUTHBEARER over IMAP, XOAUTH2 over POP3, refresh before expiry and once after a
refusal, a backup with XOAUTH2, a token expiring mid-run, and a revoked refresh token that
marks the account and sends the job's failure notification.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts.models import Account
from jobs import runner
from jobs.engine.backup.account import backup_account
from jobs.models import Job, JobRun
from mail import errors
from mail.connect import connect_imap
from mail.probe import test_connection
from tests.corpus import pick
from tests.helpers.engine import archived, archived_bytes
from tests.servers.dovecot import Dovecot
from tests.servers.mailbox import connect, fetch_raw, seed_mailbox
from tests.servers.oauth import configure_generic, signed_in_account

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def oauth(settings, oauth_provider):
    configure_generic(settings, oauth_provider)
    return oauth_provider


@pytest.fixture
def user(oauth_dovecot):
    return oauth_dovecot.add_user()


def refreshes(provider) -> int:
    return provider.counts["grant:refresh_token"]


def test_the_connection_test_logs_in_with_xoauth2_and_says_which(oauth, oauth_dovecot, user):
    account = signed_in_account(oauth_dovecot, oauth, user)
    report = test_connection(account)
    assert report.ok, report.error
    assert report.auth_mechanism == "XOAUTH2"
    assert "INBOX" in [f.name for f in report.folders]


def test_a_server_that_prefers_oauthbearer_gets_oauthbearer(oauth, user):
    server = Dovecot.start(
        oauth2_introspection_url=oauth.endpoint("introspect"),
        oauth2_mechanisms="oauthbearer xoauth2",
    )
    try:
        other = server.add_user(user.username)
        report = test_connection(signed_in_account(server, oauth, other))
    finally:
        server.stop()
    assert report.ok, report.error
    assert report.auth_mechanism == "OAUTHBEARER"


def test_pop3_logs_in_with_xoauth2(oauth, oauth_dovecot, user):
    account = signed_in_account(
        oauth_dovecot, oauth, user, protocol="pop3", port=oauth_dovecot.pop3_port
    )
    report = test_connection(account)
    assert report.ok, report.error
    assert report.auth_mechanism == "XOAUTH2" and report.message_count == 0


def test_a_password_account_still_logs_in_with_login(oauth_dovecot, user):
    account = Account(
        name="pw", host=oauth_dovecot.host, port=oauth_dovecot.imap_port, security="none",
        username=user.username,
    )  # fmt: skip
    account.set_secret(user.password)
    report = test_connection(account)
    assert report.ok and report.auth_mechanism == "LOGIN"


def test_a_token_about_to_expire_is_refreshed_before_connecting(oauth, oauth_dovecot, user):
    account = signed_in_account(oauth_dovecot, oauth, user)
    soon = timezone.now() + dt.timedelta(seconds=60)  # inside the 300 s margin
    Account.objects.filter(pk=account.pk).update(oauth_access_expires_at=soon)
    account.refresh_from_db()
    before, introspections = refreshes(oauth), oauth.counts["/introspect"]
    connect_imap(account).logout()
    assert refreshes(oauth) == before + 1
    assert oauth.counts["/introspect"] == introspections + 1  # no refused attempt first
    account.refresh_from_db()
    assert account.oauth_access_expires_at > timezone.now() + dt.timedelta(minutes=30)


def test_a_token_the_server_refuses_is_refreshed_once_and_the_login_retried(
    oauth, oauth_dovecot, user
):
    account = signed_in_account(oauth_dovecot, oauth, user)
    oauth.expire_access_tokens(user.username)  # the cache still believes it is valid
    before = refreshes(oauth)
    client = connect_imap(account)
    assert client.auth_mechanism == "XOAUTH2"
    client.logout()
    assert refreshes(oauth) == before + 1


def test_a_login_refused_even_with_a_fresh_token_fails_after_one_refresh(
    oauth, oauth_dovecot, user
):
    account = signed_in_account(oauth_dovecot, oauth, user)
    account.username = "somebody-else"  # the token is not for this user: Dovecot refuses
    before = refreshes(oauth)
    with pytest.raises(errors.AuthenticationFailed) as failure:
        connect_imap(account)
    assert refreshes(oauth) == before + 1
    assert "OAuth2 access token" in str(failure.value)
    assert not isinstance(failure.value, errors.ReauthorizationNeeded)


@pytest.fixture
def seeded(oauth_dovecot, user):
    return seed_mailbox(oauth_dovecot, user, pick(without=("malformed",), limit=8))


def test_a_backup_with_xoauth2_archives_every_message_exactly(oauth, oauth_dovecot, user, seeded):
    account = signed_in_account(oauth_dovecot, oauth, user)
    report = backup_account(account)
    assert report.state == "succeeded", report
    assert report.messages_fetched == len(seeded)
    client = connect(oauth_dovecot, user)
    for s in seeded:
        row = archived(account, s.folder).get(uid=s.uid)
        assert archived_bytes(row) == fetch_raw(client, s.folder, s.uid)


def test_a_token_that_expires_mid_run_is_refreshed_without_failing_the_run(
    oauth, oauth_dovecot, user, seeded
):
    account = signed_in_account(oauth_dovecot, oauth, user, max_connections=3)
    before = refreshes(oauth)

    def expire_after_listing(progress) -> None:
        # "pending" comes after the listing connection and before the folder connections.
        if progress.state == "pending" and refreshes(oauth) == before:
            oauth.expire_access_tokens(user.username)

    report = backup_account(account, progress=expire_after_listing)
    assert report.state == "succeeded", report
    assert report.messages_fetched == len(seeded)
    assert refreshes(oauth) == before + 1  # three connections, one refresh between them


def test_a_revoked_refresh_token_marks_the_account_and_sends_the_failure_notification(
    oauth, oauth_dovecot, user, webhook, settings
):
    settings.NOTIFY_URLS = [webhook.url]
    account = signed_in_account(oauth_dovecot, oauth, user)
    oauth.revoke_refresh_tokens(user.username)
    job = Job.objects.create(name="Nightly OAuth", account=account, kind=Job.Kind.BACKUP)
    run, _created = runner.trigger(job, send=False)
    run = runner.execute(run.pk)
    assert run.state == JobRun.State.FAILED and run.error_kind == "auth"
    assert "sign in again" in run.error
    account.refresh_from_db()
    assert account.needs_reauth and "invalid_grant" in account.reauth_reason
    assert account.oauth_access_encrypted == ""
    assert account.oauth_refresh_encrypted  # kept until the admin signs in again
    assert account.username == user.username and account.host == oauth_dovecot.host
    message = webhook.received[0]["body"]
    assert message["type"] == "failure" and "authentication failed" in message["title"]
    assert "sign in again" in message["message"]
    # The next run does not ask the provider again.
    before = refreshes(oauth)
    with pytest.raises(errors.ReauthorizationNeeded):
        connect_imap(account)
    assert refreshes(oauth) == before
