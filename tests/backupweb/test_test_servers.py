"""The test Dovecot itself: what later tests rely on, shown against the real server."""

from __future__ import annotations

import poplib

from imapclient import IMAPClient

from tests.corpus import pick
from tests.servers.mailbox import (
    SEED_FOLDERS,
    append,
    connect,
    fetch_raw,
    seed_mailbox,
    tls_context_trusting,
)

# A CRLF message without NUL bytes or bare CRs: Dovecot serves it exactly as appended.
CLEAN_CRLF = pick(tag="crlf", without=("nul-bytes", "bare-cr", "mixed-eol", "no-final-newline"))


def test_a_corpus_message_reads_back_byte_exact(dovecot, mail_user):
    message = CLEAN_CRLF[0]
    client = connect(dovecot, mail_user)
    uid = append(client, "INBOX", message.read())
    assert fetch_raw(client, "INBOX", uid) == message.read()
    client.logout()


def test_seeding_creates_folders_with_awkward_names(dovecot, mail_user):
    seeded = seed_mailbox(dovecot, mail_user, CLEAN_CRLF[:14])
    client = connect(dovecot, mail_user)
    names = {name for _flags, _delim, name in client.list_folders()}
    assert set(SEED_FOLDERS) <= names
    for item in seeded[:7]:
        assert fetch_raw(client, item.folder, item.uid) == item.message.read()
    client.logout()


def test_implicit_tls_uses_the_generated_self_signed_certificate(dovecot, mail_user):
    client = IMAPClient(
        "127.0.0.1", port=dovecot.imaps_port, ssl=True, ssl_context=tls_context_trusting(dovecot)
    )
    assert client.login(mail_user.username, mail_user.password) == b"Logged in"
    client.logout()


def test_pop3_serves_the_same_mailbox(dovecot, mail_user):
    client = connect(dovecot, mail_user)
    append(client, "INBOX", CLEAN_CRLF[1].read())
    client.logout()
    pop = poplib.POP3("127.0.0.1", dovecot.pop3_port, timeout=10)
    pop.user(mail_user.username)
    pop.pass_(mail_user.password)
    count, _size = pop.stat()
    assert count == 1
    _resp, lines, _octets = pop.retr(1)
    assert b"\r\n".join(lines) + b"\r\n" == CLEAN_CRLF[1].read()
    pop.quit()
