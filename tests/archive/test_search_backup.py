"""A backup from a real Dovecot makes messages searchable and threaded as it stores them."""

from __future__ import annotations

import pytest

from archive import search
from archive.models import MessageRef
from archive.search import SearchQuery
from jobs.engine.backup.account import backup_account
from tests.helpers.engine import make_account
from tests.servers.mailbox import append, connect

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_backup_indexes_and_threads_messages_as_it_stores_them(dovecot, mail_user, archive_root):
    first = (b"From: a@example.org\r\nSubject: launch plan\r\nMessage-ID: <p1@example.org>\r\n"
             b"\r\nThe flamingo project starts Monday.\r\n")  # fmt: skip
    reply = (b"From: b@example.org\r\nSubject: Re: launch plan\r\nMessage-ID: <p2@example.org>\r\n"
             b"In-Reply-To: <p1@example.org>\r\n\r\nFlamingo sounds good.\r\n")  # fmt: skip
    client = connect(dovecot, mail_user)
    append(client, "INBOX", first)
    account = make_account(dovecot, mail_user)
    backup_account(account)
    found = search.search(SearchQuery(words="flamingo", account_id=account.pk)).hits
    assert [h.message.subject for h in found] == ["launch plan"]

    append(client, "INBOX", reply)
    backup_account(account)
    found = search.search(SearchQuery(words="flamingo", account_id=account.pk)).hits
    assert sorted(h.message.subject for h in found) == ["Re: launch plan", "launch plan"]
    assert MessageRef.objects.filter(ref="<p1@example.org>").count() == 1
