"""The connection test and connect_imap/connect_pop3, against the real Dovecot.

Each failure cause has its own error class and sentence; none of them contains the password.
"""

from __future__ import annotations

import gc
import poplib
import socket
import threading
import time
import warnings
from contextlib import suppress

import pytest
from imapclient import IMAPClient

from mail import errors
from mail.connect import connect_imap, connect_pop3
from mail.probe import test_connection
from mail.tls import normalize_fingerprint
from tests.corpus import pick
from tests.helpers.accounts import dovecot_account
from tests.servers.dovecot import Dovecot
from tests.servers.mailbox import seed_mailbox


def account_for(dovecot, mail_user, **fields):
    return dovecot_account(dovecot, mail_user, save=False, **fields)


def pinned(dovecot) -> str:
    return normalize_fingerprint(dovecot.cert.sha256)


def assert_failed(report, kind: type[errors.EngineError], *phrases: str) -> None:
    assert not report.ok
    assert report.error_kind == kind.__name__, report.error
    for phrase in phrases:
        assert phrase in report.error


def test_it_lists_folders_with_message_counts_over_plain_imap(dovecot, mail_user):
    seed_mailbox(dovecot, mail_user, pick(limit=5), folders=("INBOX", "Ünïcode Ordner"))
    report = test_connection(account_for(dovecot, mail_user))
    assert report.ok, report.error
    counts = {folder.name: folder.messages for folder in report.folders}
    assert counts["INBOX"] == 3
    assert counts["Ünïcode Ordner"] == 2  # decoded from modified UTF-7
    assert counts["Sent"] == 0
    assert {f.name: f.special_use for f in report.folders}["Sent"] == "Sent"
    assert report.total_messages == 5


def test_it_reports_the_capabilities_the_backup_cares_about(dovecot, mail_user):
    report = test_connection(account_for(dovecot, mail_user))
    notable = dict(report.notable_capabilities)
    assert list(notable) == ["IDLE", "CONDSTORE", "QRESYNC", "UIDPLUS", "MOVE", "SPECIAL-USE",
                             "COMPRESS"]  # fmt: skip
    assert notable["IDLE"] and notable["CONDSTORE"] and notable["QRESYNC"] and notable["MOVE"]
    assert notable["COMPRESS"] is False  # the test Dovecot has no imap_zlib


def test_it_shows_missing_capabilities_as_missing():
    server = Dovecot.start(capabilities="IMAP4rev1 LITERAL+ IDLE UIDPLUS")
    try:
        report = test_connection(account_for(server, server.add_user()))
    finally:
        server.stop()
    notable = dict(report.notable_capabilities)
    assert notable["IDLE"] and notable["UIDPLUS"]
    assert not notable["CONDSTORE"] and not notable["QRESYNC"]


def test_starttls_refuses_a_self_signed_certificate_and_shows_its_fingerprint(dovecot, mail_user):
    report = test_connection(account_for(dovecot, mail_user, security="starttls"))
    assert_failed(report, errors.CertificateNotTrusted, "not trusted", "self-signed")
    assert report.fingerprint == pinned(dovecot)


def test_starttls_works_with_the_pinned_fingerprint(dovecot, mail_user):
    account = account_for(dovecot, mail_user, security="starttls", tls_fingerprint=pinned(dovecot))
    report = test_connection(account)
    assert report.ok, report.error
    assert report.tls_fingerprint == pinned(dovecot)


def test_implicit_tls_refuses_a_self_signed_certificate_by_default(dovecot, mail_user):
    account = account_for(dovecot, mail_user, security="ssl", port=dovecot.imaps_port)
    report = test_connection(account)
    assert_failed(report, errors.CertificateNotTrusted, "not trusted")
    assert report.fingerprint == pinned(dovecot)


def test_implicit_tls_accepts_the_pinned_certificate(dovecot, mail_user):
    # Pasted the way people copy it: lower case, no colons.
    account = account_for(
        dovecot,
        mail_user,
        security="ssl",
        port=dovecot.imaps_port,
        tls_fingerprint=dovecot.cert.sha256,
    )
    report = test_connection(account)
    assert report.ok, report.error
    assert any(f.name == "INBOX" for f in report.folders)


def test_a_different_pinned_fingerprint_is_refused_and_the_real_one_shown(dovecot, mail_user):
    account = account_for(
        dovecot, mail_user, security="ssl", port=dovecot.imaps_port, tls_fingerprint="AB" * 32
    )
    report = test_connection(account)
    assert_failed(report, errors.CertificateNotTrusted, "does not match the pinned fingerprint")
    assert report.fingerprint == pinned(dovecot)


def test_implicit_tls_on_a_plain_port_is_a_failed_handshake(dovecot, mail_user):
    report = test_connection(account_for(dovecot, mail_user, security="ssl"))
    assert_failed(report, errors.TLSHandshakeFailed, "TLS handshake", "security setting")


def test_a_wrong_password_fails_authentication_with_the_provider_hint(dovecot, mail_user):
    account = account_for(dovecot, mail_user, password="not-the-password-42", provider="gmail")
    report = test_connection(account)
    assert_failed(report, errors.AuthenticationFailed, "Authentication failed", mail_user.username)
    assert "app password" in report.error  # Gmail's hint
    assert "not-the-password-42" not in report.error


def test_a_closed_port_is_connection_refused(dovecot, mail_user):
    report = test_connection(account_for(dovecot, mail_user, port=1))
    assert_failed(report, errors.ConnectionRefused, "refused the connection")


def test_a_pop3_port_tested_as_imap_says_it_speaks_pop3(dovecot, mail_user):
    report = test_connection(account_for(dovecot, mail_user, port=dovecot.pop3_port))
    assert_failed(report, errors.WrongProtocol, "speaks POP3, not IMAP")


def test_an_imap_port_tested_as_pop3_says_it_speaks_imap(dovecot, mail_user):
    report = test_connection(account_for(dovecot, mail_user, protocol="pop3"))
    assert_failed(report, errors.WrongProtocol, "speaks IMAP, not POP3")


def test_a_server_that_never_answers_times_out_within_the_configured_timeout(
    dovecot, mail_user, mute_server, settings
):
    settings.CONNECTION_TIMEOUT = 1
    account = account_for(dovecot, mail_user, port=mute_server)
    started = time.monotonic()
    report = test_connection(account)
    assert time.monotonic() - started < 2.5
    assert_failed(report, errors.ConnectionTimedOut, "did not finish answering within 1 second")


def test_a_mute_server_with_implicit_tls_times_out_too(dovecot, mail_user, mute_server):
    account = account_for(dovecot, mail_user, port=mute_server, security="ssl")
    started = time.monotonic()
    with pytest.raises(errors.ConnectionTimedOut):
        connect_imap(account, timeout=1)
    assert time.monotonic() - started < 2.5


def test_a_name_that_does_not_resolve_says_so(dovecot, mail_user):
    report = test_connection(account_for(dovecot, mail_user, host="no-such-host.invalid"))
    assert_failed(report, errors.NameNotResolved, "no-such-host.invalid does not resolve")


def test_internal_hosts_are_refused_when_not_allowed(dovecot, mail_user, settings):
    settings.ALLOWED_INTERNAL_HOSTS = []
    report = test_connection(account_for(dovecot, mail_user, host="localhost"))
    assert_failed(report, errors.HostNotAllowed, "localhost is not allowed")
    assert "127.0.0.1" not in report.error  # what the name resolves to stays unsaid


def test_loopback_is_allowed_out_of_production_and_nothing_else_internal(
    dovecot, mail_user, settings
):
    assert settings.ALLOW_INTERNAL_HOSTS is False
    assert settings.ALLOWED_INTERNAL_HOSTS == ["127.0.0.0/8", "::1"]
    assert test_connection(account_for(dovecot, mail_user, host="localhost")).ok


def test_an_account_without_a_password_fails_clearly(dovecot, mail_user):
    account = account_for(dovecot, mail_user)
    account.secret_encrypted = ""
    report = test_connection(account)
    assert_failed(report, errors.SecretUnavailable, "no stored password")


def test_pop3_reports_the_message_count(dovecot, mail_user):
    seed_mailbox(dovecot, mail_user, pick(limit=3), folders=("INBOX",))
    report = test_connection(
        account_for(dovecot, mail_user, protocol="pop3", port=dovecot.pop3_port)
    )
    assert report.ok, report.error
    assert report.message_count == 3
    assert report.mailbox_bytes > 0
    assert "UIDL" in report.capabilities


def test_pop3_over_stls_and_implicit_tls_with_a_pinned_certificate(dovecot, mail_user):
    for security, port in (("starttls", dovecot.pop3_port), ("ssl", dovecot.pop3s_port)):
        account = account_for(
            dovecot, mail_user, protocol="pop3", port=port, security=security,
            tls_fingerprint=pinned(dovecot),
        )  # fmt: skip
        report = test_connection(account)
        assert report.ok, f"{security}: {report.error}"


def test_pop3_refuses_a_self_signed_certificate_by_default(dovecot, mail_user):
    account = account_for(
        dovecot, mail_user, protocol="pop3", port=dovecot.pop3s_port, security="ssl"
    )
    report = test_connection(account)
    assert_failed(report, errors.CertificateNotTrusted)
    assert report.fingerprint == pinned(dovecot)


def test_pop3_wrong_password_fails_authentication(dovecot, mail_user):
    account = account_for(
        dovecot, mail_user, protocol="pop3", port=dovecot.pop3_port, password="wrong-pop-pw"
    )
    report = test_connection(account)
    assert_failed(report, errors.AuthenticationFailed, "rejected the username or password")


def test_connect_imap_returns_a_logged_in_client_for_an_unsaved_account(dovecot, mail_user):
    account = account_for(dovecot, mail_user, security="starttls", tls_fingerprint=pinned(dovecot))
    assert account.pk is None
    client = connect_imap(account)
    try:
        assert isinstance(client, IMAPClient)
        assert client._imap.state == "AUTH"
        assert client.select_folder("INBOX", readonly=True)[b"EXISTS"] == 0
    finally:
        client.logout()


def test_connect_imap_raises_the_error_classes(dovecot, mail_user):
    with pytest.raises(errors.AuthenticationFailed) as failure:
        connect_imap(account_for(dovecot, mail_user, password="nope-secret-9"))
    assert isinstance(failure.value, errors.PermanentError)
    assert "nope-secret-9" not in str(failure.value)
    with pytest.raises(errors.ConnectionRefused) as refused:
        connect_imap(account_for(dovecot, mail_user, port=1))
    assert isinstance(refused.value, errors.TransientError)


def test_connect_pop3_returns_a_logged_in_client(dovecot, mail_user):
    seed_mailbox(dovecot, mail_user, pick(limit=2), folders=("INBOX",))
    plain = connect_pop3(account_for(dovecot, mail_user, protocol="pop3", port=dovecot.pop3_port))
    tls = connect_pop3(
        account_for(
            dovecot, mail_user, protocol="pop3", port=dovecot.pop3s_port, security="ssl",
            tls_fingerprint=pinned(dovecot),
        )
    )  # fmt: skip
    try:
        assert isinstance(plain, poplib.POP3) and isinstance(tls, poplib.POP3_SSL)
        assert plain.stat()[0] == 2 and tls.stat()[0] == 2
    finally:
        plain.quit()
        tls.quit()


def test_imaplib_debug_lines_never_carry_the_password(dovecot, mail_user, caplog):
    caplog.set_level("DEBUG")
    client = connect_imap(account_for(dovecot, mail_user))
    client.logout()
    assert any("LOGIN" in r.getMessage() for r in caplog.records)  # the debug output is on
    assert mail_user.password not in caplog.text


def test_normalize_fingerprint_accepts_common_spellings_and_refuses_garbage():
    upper = ":".join(["AB"] * 32)
    assert normalize_fingerprint("ab" * 32) == upper
    assert normalize_fingerprint(" " + "AB:" * 31 + "AB ") == upper
    assert normalize_fingerprint("") == ""
    with pytest.raises(ValueError):
        normalize_fingerprint("12:34")
    with pytest.raises(ValueError):
        normalize_fingerprint("zz" * 32)


def test_failed_connections_leave_no_open_socket_behind(dovecot, mail_user):
    wrong_ports = [
        (connect_imap, account_for(dovecot, mail_user, port=dovecot.pop3_port)),
        (connect_pop3, account_for(dovecot, mail_user, protocol="pop3")),
        (connect_imap, account_for(dovecot, mail_user, password="wrong-pw-7")),
        (connect_imap, account_for(dovecot, mail_user, security="ssl", port=dovecot.imaps_port)),
    ]
    gc.collect()  # sockets other tests dropped are theirs to answer for, not this test's
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        for connect, account in wrong_ports:
            with pytest.raises(errors.EngineError):
                connect(account)
        gc.collect()
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaks == []


def test_a_hanging_name_lookup_ends_at_the_timeout(dovecot, mail_user, monkeypatch):
    def slow_lookup(*args, **kwargs):
        time.sleep(3)
        raise OSError("too late")

    monkeypatch.setattr(socket, "getaddrinfo", slow_lookup)
    started = time.monotonic()
    report = test_connection(account_for(dovecot, mail_user, host="slow.example"), timeout=0.5)
    assert time.monotonic() - started < 1.5
    assert_failed(report, errors.ConnectionTimedOut, "did not answer within 0.5 seconds")


def test_a_server_trickling_bytes_cannot_stretch_the_test_past_the_timeout(dovecot, mail_user):
    # Each byte arrives well within the read timeout; only the overall deadline stops it.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        stop = threading.Event()

        def trickle() -> None:
            conn, _ = listener.accept()
            with conn:
                for byte in b"* OK still greeting" * 10:
                    if stop.wait(0.3):
                        return
                    with suppress(OSError):
                        conn.sendall(bytes([byte]))

        threading.Thread(target=trickle, daemon=True).start()
        account = account_for(dovecot, mail_user, port=listener.getsockname()[1])
        started = time.monotonic()
        report = test_connection(account, timeout=1.5)
        stop.set()
    assert time.monotonic() - started < 2.5
    assert_failed(report, errors.ConnectionTimedOut, "within 1.5 seconds")
