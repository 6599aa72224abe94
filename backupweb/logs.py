"""One line per event on stdout, with context ids, and no secrets.

Callers add context with `extra={"run_id": ..., "account_id": ...}`; those keys are printed
as key=value after the message.
"""

from __future__ import annotations

import logging
import re

CONTEXT_KEYS = ("run_id", "job_id", "account_id", "folder", "task_id")

# Credentials that may appear in library messages (IMAP LOGIN lines, URLs with passwords).
SECRET_PATTERNS = [
    (re.compile(r"(?i)(\bLOGIN\s+\S+\s+)(\S+)"), r"\1***"),
    (re.compile(r"(?i)(\bAUTHENTICATE\s+\S+\s+)(\S+)"), r"\1***"),
    (re.compile(r"(?i)(\bPASS\s+)(\S+)"), r"\1***"),
    (re.compile(r"(://[^:/@\s]*:)([^@\s]+)(@)"), r"\1***\3"),
    (re.compile(r"(?i)((?:password|secret|token)\s*[=:]\s*)([^\s,;]+)"), r"\1***"),
]


def redact(text: str) -> str:
    for pattern, replacement in SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    """Render the message once, scrub it, and keep the scrubbed text."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


class LineFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = [f"{k}={getattr(record, k)}" for k in CONTEXT_KEYS if hasattr(record, k)]
        if context:
            line = f"{line} {' '.join(context)}"
        # One event, one line: tracebacks are folded.
        return redact(line.replace("\n", " | "))
