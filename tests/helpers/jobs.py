"""Jobs test helpers: accounts on the test Dovecot, real Celery workers and beat on a real Redis."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import quote

from django.db import connection

from accounts.models import Account
from jobs.models import Job, JobRun
from tests.servers.dovecot import Dovecot, MailUser

STALE_SECONDS = 4


def make_account(dovecot: Dovecot, user: MailUser, password: str | None = None, **fields):
    account = Account(
        name=fields.pop("name", user.username),
        protocol="imap",
        host="127.0.0.1",
        port=dovecot.imap_port,
        security="none",
        username=user.username,
        **fields,
    )
    account.set_secret(password or user.password)
    account.save()
    return account


def make_job(account: Account, name: str | None = None, **fields) -> Job:
    return Job.objects.create(name=name or f"Backup {account.name}", account=account, **fields)


def wait_for(predicate: Callable[[], object], timeout: float = 30, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def run_state(run: JobRun) -> str:
    return JobRun.objects.values_list("state", flat=True).get(pk=run.pk)


def wait_for_state(run: JobRun, states: tuple[str, ...] | str, timeout: float = 60) -> JobRun:
    wanted = (states,) if isinstance(states, str) else states
    wait_for(lambda: run_state(run) in wanted, timeout, f"run {run.pk} to be {wanted}")
    run.refresh_from_db()
    return run


def database_url_for_workers() -> str:
    """The URL of the database this test uses (the test file or the test PostgreSQL DB)."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = f"{quote(db['USER'])}:{quote(db['PASSWORD'])}@" if db["USER"] else ""
    return f"postgres://{auth}{db['HOST']}:{db['PORT']}/{db['NAME']}"
