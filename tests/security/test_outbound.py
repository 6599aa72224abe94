"""Every outbound request goes through one policy: notifications, redirects, connection tests.

A loopback HTTP sink stands in for an internal service an attacker with an operator's login
would like the server to reach (SSRF): it counts what arrives.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.contrib.auth import get_user_model

from backupweb.redis import get_redis
from jobs import notify
from mail import errors
from mail.probe import test_connection
from tests.helpers.accounts import dovecot_account


class Sink:
    """An HTTP server on a loopback address that counts requests, or redirects them."""

    def __init__(self, host: str = "127.0.0.1", redirect_to: str = ""):
        self.hits: list[str] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                sink.hits.append(self.path)
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if redirect_to:
                    self.send_response(307)
                    self.send_header("Location", redirect_to)
                else:
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST

            def log_message(self, *args):
                return None

        self.server = HTTPServer((host, 0), Handler)
        self.url = f"{host}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sink():
    server = Sink()
    yield server
    server.close()


@pytest.fixture
def no_internal_hosts(settings):
    settings.ALLOW_INTERNAL_HOSTS = False
    settings.ALLOWED_INTERNAL_HOSTS = []
    return settings


@pytest.mark.parametrize("scheme", ["json", "form", "xml"])
def test_a_notification_to_an_internal_address_is_refused_and_never_sent(
    sink, no_internal_hosts, scheme
):
    outcome = notify.send([f"{scheme}://{sink.url}/hook"], "title", "body")
    assert not outcome.ok
    assert f"Target 1 ({scheme}://{sink.url}/hook)" in outcome.detail
    assert "is not allowed" in outcome.detail
    assert sink.hits == []


def test_an_allow_listed_internal_host_gets_the_notification(sink, no_internal_hosts):
    no_internal_hosts.ALLOWED_INTERNAL_HOSTS = ["127.0.0.1"]
    outcome = notify.send([f"json://{sink.url}/hook"], "title", "body")
    assert outcome.ok, outcome.detail
    assert sink.hits == ["/hook"]


def test_a_network_in_the_allow_list_covers_its_addresses(sink, no_internal_hosts):
    no_internal_hosts.ALLOWED_INTERNAL_HOSTS = ["10.0.0.0/8", "127.0.0.0/24"]
    assert notify.send([f"json://{sink.url}/hook"], "title", "body").ok
    assert sink.hits == ["/hook"]


def test_a_redirect_to_an_internal_host_is_not_followed(sink, no_internal_hosts):
    # 127.0.0.2 is allowed and redirects to 127.0.0.1, which is not.
    no_internal_hosts.ALLOWED_INTERNAL_HOSTS = ["127.0.0.2/32"]
    front = Sink("127.0.0.2", redirect_to=f"http://{sink.url}/inside")
    try:
        outcome = notify.send([f"json://{front.url}/hook"], "title", "body")
    finally:
        front.close()
    assert front.hits == ["/hook"]
    assert sink.hits == []
    assert not outcome.ok and "Target 1" in outcome.detail


def test_a_failed_target_is_named_and_the_others_still_get_it(sink, no_internal_hosts):
    no_internal_hosts.ALLOWED_INTERNAL_HOSTS = ["127.0.0.1"]
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there any more
    outcome = notify.send(
        [f"json://127.0.0.1:{port}/down", f"json://{sink.url}/up"], "title", "body"
    )
    assert not outcome.ok
    assert f"Target 1 (json://127.0.0.1:{port}/down) failed:" in outcome.detail
    assert "Target 2" not in outcome.detail
    assert sink.hits == ["/up"]


def test_the_secret_parts_of_a_notification_url_are_not_shown(sink, no_internal_hosts):
    outcome = notify.send([f"json://user:hunter2secret@{sink.url}/hook"], "title", "body")
    assert not outcome.ok and "hunter2secret" not in outcome.detail


@pytest.mark.django_db
def test_the_connection_test_says_only_not_allowed_whatever_listens_on_the_port(
    dovecot, mail_user, no_internal_hosts, sink
):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    free_port = closed.getsockname()[1]
    closed.close()
    answers = set()
    for port in (dovecot.imap_port, free_port, sink.server.server_address[1]):
        account = dovecot_account(dovecot, mail_user, save=False, host="127.0.0.1", port=port)
        report = test_connection(account)
        answers.add((report.ok, report.error_kind, report.error))
    assert answers == {
        (False, errors.HostNotAllowed.__name__, next(iter(answers))[2]),
    }
    assert "127.0.0.1 is not allowed" in next(iter(answers))[2]
    assert sink.hits == []


@pytest.mark.django_db
def test_connection_tests_are_limited_per_user(client, dovecot, mail_user, settings, use_redis):
    settings.CONNECTION_TESTS_PER_MINUTE = 2
    get_redis().flushdb()
    client.force_login(get_user_model().objects.create_superuser("alice", "a@example.org", "x"))
    account = dovecot_account(dovecot, mail_user)
    answers = [client.post(f"/accounts/{account.pk}/test/").content for _ in range(3)]
    assert all(b"at most 2 a minute" not in answer for answer in answers[:2])
    assert b"at most 2 a minute" in answers[2]


def test_the_policy_command_says_what_is_allowed_and_checks_a_host(no_internal_hosts):
    from io import StringIO

    from django.core.management import call_command

    no_internal_hosts.ALLOWED_INTERNAL_HOSTS = ["127.0.0.0/8"]
    out = StringIO()
    call_command("outbound_policy", "localhost", "10.1.2.3", stdout=out)
    text = out.getvalue()
    assert "these internal ones: 127.0.0.0/8" in text
    assert "127.0.0.1 allowed" in text and "10.1.2.3: 10.1.2.3 refused" in text
