"""Log lines: one per event, with the ids that say which job and account, and no secrets."""

from __future__ import annotations

import logging

from backupweb.logs import LineFormatter, RedactSecrets, redact


def render(message: str, *args, **extra) -> str:
    record = logging.LogRecord("backupweb.test", logging.INFO, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    RedactSecrets().filter(record)
    return LineFormatter().format(record)


def test_context_ids_are_appended_as_key_values():
    line = render("folder done", run_id=12, account_id=3)
    assert line.endswith("folder done run_id=12 account_id=3")


def test_imap_login_arguments_are_masked():
    assert redact('> a001 LOGIN alice "hunter2-secret"') == "> a001 LOGIN alice ***"


def test_urls_with_passwords_are_masked():
    assert "s3cr3t" not in render("connecting to %s", "redis://:s3cr3t@redis:6379/0")


def test_password_assignments_are_masked():
    line = render("bad row: password=topsecret, host=x")
    assert "topsecret" not in line
    assert "host=x" in line


def test_a_traceback_stays_on_one_line():
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        import sys

        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    assert "\n" not in LineFormatter().format(record)
