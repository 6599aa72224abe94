"""The backup reads the next batch from the server while it stores the current one, and the
folder's cursor still covers only committed batches (jobs/engine/backup/folder.py, prefetch.py)."""

from __future__ import annotations

import threading
import time

import pytest

from archive.models import Folder
from jobs.engine.backup import folder as folder_module
from jobs.engine.backup.account import backup_account
from jobs.engine.backup.report import BackupOptions
from mail.imap import ImapSession
from tests.corpus import pick
from tests.helpers.engine import archived, make_account
from tests.servers.mailbox import seed_mailbox

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_next_batch_is_fetched_while_one_is_stored_and_the_cursor_waits_for_the_commit(
    dovecot, mail_user, monkeypatch
):
    seeded = seed_mailbox(dovecot, mail_user, pick(without=("malformed",), limit=6), ["INBOX"])
    fetches = []  # UIDs of each body FETCH, in the order the server answered them
    lock = threading.Lock()
    real_fetch = ImapSession.fetch_bodies

    def fetch_bodies(self, uids, body=True):
        result = real_fetch(self, uids, body)
        with lock:
            fetches.append(list(uids))
        return result

    stores = []  # (cursor in the database, UIDs of the batch, fetches done) at each store
    real_store = folder_module.state.store_batch

    def store_batch(folder, fetched, cursor, store=None):
        uids = [m.uid for m in fetched]
        deadline = time.monotonic() + 5
        while len(fetches) <= len(stores) + 1 and time.monotonic() < deadline:
            time.sleep(0.01)  # give the reader the time to go ahead, if it ever does
        committed = Folder.objects.get(pk=folder.pk).highest_uid
        stores.append((committed, uids, len(fetches)))
        return real_store(folder, fetched, cursor, store)

    monkeypatch.setattr(ImapSession, "fetch_bodies", fetch_bodies)
    monkeypatch.setattr(folder_module.state, "store_batch", store_batch)
    account = make_account(dovecot, mail_user, max_connections=1)
    report = backup_account(account, BackupOptions(batch_bytes=1))  # one message per batch

    assert report.state == "succeeded", report
    assert archived(account).count() == len(seeded) == len(stores)
    for i, (committed, uids, fetched_by_then) in enumerate(stores):
        assert committed < min(uids)  # never past a batch that is not committed yet
        if i < len(stores) - 1:
            # Read ahead (this batch and at least the next), but boundedly (memory).
            assert i + 2 <= fetched_by_then <= i + 3
