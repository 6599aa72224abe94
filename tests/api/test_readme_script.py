"""The README's curl script, run as written against a live server, a real Celery worker and the
test Dovecot: it starts a backup, waits for it and downloads a message byte for byte."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from archive.blobstore import get_store
from archive.models import Message
from jobs.models import JobRun
from tests.corpus import pick
from tests.helpers.api import make_token
from tests.helpers.jobs import make_account
from tests.helpers.security import make_user
from tests.servers.mailbox import seed_mailbox

pytestmark = pytest.mark.django_db(transaction=True)
README = Path(__file__).resolve().parents[2] / "README.md"


def readme_script() -> str:
    """The second shell block of the README's REST API section (the first sets variables)."""
    section = README.read_text().split("## REST API", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert len(blocks) == 2, "the REST API section has a settings block and a script block"
    return blocks[1]


def test_the_readme_script_backs_up_an_account_and_downloads_a_message(
    live_server, start_worker, dovecot, mail_user, tmp_path
):
    messages = [m for m in pick(without=("malformed",)) if m.size < 20000][:3]
    seed_mailbox(dovecot, mail_user, messages, ("INBOX",))
    account = make_account(dovecot, mail_user)
    token = make_token(make_user("admin", "administrator"), "operate")
    start_worker()
    env = {**os.environ, "API": f"{live_server.url}/api/v1", "TOKEN": token,
           "ACCOUNT_NAME": account.name}  # fmt: skip
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", readme_script()],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    run = JobRun.objects.get(job__account=account)
    assert f"run {run.pk}: succeeded" in done.stdout
    assert Message.objects.filter(folder__account=account).count() == len(messages)
    downloaded = (tmp_path / "message.eml").read_bytes()
    stored = {get_store().get(m.blob_id) for m in Message.objects.all()}
    assert downloaded in stored
