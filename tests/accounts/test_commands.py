"""`manage.py rotate_keys` and `manage.py test_account`."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command

from accounts import secrets
from accounts.models import Account
from tests.helpers.accounts import dovecot_account


def new_key() -> str:
    return Fernet.generate_key().decode()


def account_with(name: str, password: str) -> Account:
    account = Account(name=name, host="mail.example.com", username=name)
    account.set_secret(password)
    account.save()
    return account


@pytest.mark.django_db
def test_rotate_keys_re_encrypts_every_secret_so_the_old_key_can_go(settings, capsys, caplog):
    old, new = new_key(), new_key()
    settings.FERNET_KEYS = [old]
    ann, bob = account_with("ann", "pw-ann-1"), account_with("bob", "pw-bob-2")
    before = Account.objects.get(pk=ann.pk).secret_encrypted

    settings.FERNET_KEYS = [new, old]
    caplog.set_level("INFO", logger="backupweb.audit")
    call_command("rotate_keys")
    assert "2 re-encrypted, 0 already under the first key, 0 failed." in capsys.readouterr().out
    assert "key rotation finished: 2 re-encrypted" in caplog.text

    settings.FERNET_KEYS = [new]  # the old key is gone
    for account, password in ((ann, "pw-ann-1"), (bob, "pw-bob-2")):
        account.refresh_from_db()
        assert account.get_secret() == password
    assert ann.secret_encrypted != before
    assert "pw-ann-1" not in caplog.text


@pytest.mark.django_db
def test_rotate_keys_can_run_again_and_leaves_current_secrets_alone(settings, capsys):
    old, new = new_key(), new_key()
    settings.FERNET_KEYS = [old]
    ann = account_with("ann", "pw-ann-1")
    settings.FERNET_KEYS = [new, old]
    call_command("rotate_keys")
    ann.refresh_from_db()
    rotated = ann.secret_encrypted
    capsys.readouterr()
    call_command("rotate_keys")  # resumed or repeated: nothing left to do
    assert "0 re-encrypted, 1 already under the first key" in capsys.readouterr().out
    ann.refresh_from_db()
    assert ann.secret_encrypted == rotated


@pytest.mark.django_db
def test_rotate_keys_reports_secrets_no_key_can_read_and_rotates_the_rest(settings):
    lost, old, new = new_key(), new_key(), new_key()
    settings.FERNET_KEYS = [lost]
    orphan = account_with("orphan", "pw-lost")
    settings.FERNET_KEYS = [old]
    ann = account_with("ann", "pw-ann-1")
    settings.FERNET_KEYS = [new, old]
    with pytest.raises(CommandError, match=f"Account #{orphan.pk}"):
        call_command("rotate_keys")
    settings.FERNET_KEYS = [new]
    ann.refresh_from_db()
    assert ann.get_secret() == "pw-ann-1"
    orphan.refresh_from_db()
    with pytest.raises(secrets.SecretError):
        orphan.get_secret()  # an error, never an empty password


def test_test_account_prints_folders_and_capabilities(db, dovecot, mail_user, capsys):
    account = dovecot_account(dovecot, mail_user)
    call_command("test_account", account.name)
    out = capsys.readouterr().out
    assert out.startswith(f"OK: logged in to {dovecot.host}:{dovecot.imap_port}")
    assert "  INBOX: 0 message(s)" in out
    assert "Capabilities: IDLE CONDSTORE QRESYNC UIDPLUS MOVE SPECIAL-USE COMPRESS (no)" in out
    account.refresh_from_db()
    assert account.last_test_ok is True


def test_test_account_fails_with_the_sentence(db, dovecot, mail_user):
    account = dovecot_account(dovecot, mail_user, port=dovecot.pop3_port)
    with pytest.raises(CommandError, match="speaks POP3, not IMAP"):
        call_command("test_account", account.name)


def test_test_account_prints_the_fingerprint_of_an_untrusted_certificate(
    db, dovecot, mail_user, capsys
):
    account = dovecot_account(dovecot, mail_user, security="ssl", port=dovecot.imaps_port)
    with pytest.raises(CommandError, match="not trusted"):
        call_command("test_account", account.name)
    assert "Certificate SHA-256: " in capsys.readouterr().out


def test_test_account_names_a_missing_account(db):
    with pytest.raises(CommandError, match="No account named 'nobody'"):
        call_command("test_account", "nobody")
