"""Dry runs state their size in the units the table and the pre-flight use ("42.1 KB"), not
"(0.0 MB)" or decimal megabytes."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.template.defaultfilters import filesizeformat

from archive.models import Message
from jobs import runner
from jobs.models import Job
from tests.corpus import pick
from tests.helpers.jobs import make_account
from tests.servers.mailbox import seed_mailbox

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_restore_dry_run_of_small_messages_states_their_size_in_kb(client, dovecot):
    user = get_user_model().objects.create_superuser("alice", "alice@example.org", "pw")
    client.force_login(user)
    source_user, dest_user = dovecot.add_user(), dovecot.add_user()
    small = [m for m in pick(without=("malformed",)) if 1000 < m.size < 8000][:5]
    seed_mailbox(dovecot, source_user, small, ("INBOX",))
    source = make_account(dovecot, source_user, name="Archived")
    dest = make_account(dovecot, dest_user, name="Destination")
    backup = Job.objects.create(name="Backup", account=source)
    run, _ = runner.trigger(backup, send=False)
    assert runner.execute(run.pk, worker="test").state == "succeeded"
    restore = Job.objects.create(
        name="Put back", kind=Job.Kind.RESTORE, account=source, destination=dest,
        options={"into": "Restored"},
    )  # fmt: skip

    html = client.post(f"/jobs/{restore.pk}/dry-run/").content.decode()

    size = sum(Message.objects.filter(folder__account=source).values_list("size", flat=True))
    line = re.search(r'class="dry-run-summary"><strong>([^<]+)<', html).group(1)
    assert "0.0 MB" not in line
    assert f"copy 5 messages ({filesizeformat(size)})" in line


def test_a_sync_dry_run_states_the_size_the_preflight_shows(dovecot):
    from jobs.engine.sync.preflight import preflight
    from jobs.kinds import dry_run_job

    source_user, dest_user = dovecot.add_user(), dovecot.add_user()
    seeded = [m for m in pick(without=("malformed",)) if 20_000 < m.size < 200_000][:6]
    seed_mailbox(dovecot, source_user, seeded, ("INBOX",))
    source = make_account(dovecot, source_user, name="Old")
    dest = make_account(dovecot, dest_user, name="New")
    job = Job.objects.create(name="Move", kind=Job.Kind.SYNC, account=source, destination=dest)

    checked = preflight(source, dest)
    summary = dry_run_job(job).summary()

    shown = filesizeformat(checked.selected_bytes).replace("\xa0", " ")
    assert checked.selected_bytes > 100_000  # big enough for decimal and binary MB to differ
    assert f"copy {len(seeded)} messages ({shown})" in summary
