"""A known password never appears in clear in the database file, the logs or any page.

The admin adds an account in the browser's way (form posts), tests it, edits it, imports
more by CSV, fails a test with a wrong password, and we grep everything for the passwords.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse

from accounts.models import Account

PASSWORD = "Canary-Pw-7f3a9c"  # the Dovecot user's real password
WRONG = "Wrong-Canary-Pw-51be"
IMPORTED = "Csv-Canary-Pw-c0ffee"


def database_bytes() -> bytes:
    """The SQLite file with its write-ahead log, where recent commits live."""
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
    name = Path(connection.settings_dict["NAME"])
    return b"".join(p.read_bytes() for p in (name, Path(f"{name}-wal")) if p.exists())


@pytest.fixture
def browser_client(client, transactional_db):
    user = get_user_model().objects.create_superuser("alice", "alice@example.org", "pw-alice-1")
    client.force_login(user)
    return client


@pytest.mark.skipif(connection.vendor != "sqlite", reason="greps the SQLite file")
def test_no_password_in_the_database_file_logs_or_pages(browser_client, dovecot, caplog):
    caplog.set_level("DEBUG")
    user = dovecot.add_user(password=PASSWORD)
    pages: list[bytes] = []

    def visit(response) -> None:
        pages.append(response.content)

    data = {
        "name": "Canary", "provider": "custom", "protocol": "imap", "host": dovecot.host,
        "port": dovecot.imap_port, "security": "none", "username": user.username,
        "password": PASSWORD, "tls_verify": "on", "tls_fingerprint": "", "notes": "",
    }  # fmt: skip
    visit(browser_client.post(reverse("accounts:new-test"), data, HTTP_HX_REQUEST="true"))
    visit(browser_client.post(reverse("accounts:new"), data, follow=True))
    account = Account.objects.get(name="Canary")
    visit(browser_client.post(reverse("accounts:test", args=[account.pk]), HTTP_HX_REQUEST="true"))
    visit(browser_client.get(reverse("accounts:edit", args=[account.pk])))
    wrong = {**data, "password": WRONG}
    url = reverse("accounts:edit-test", args=[account.pk])
    visit(browser_client.post(url, wrong, HTTP_HX_REQUEST="true"))
    visit(
        browser_client.post(reverse("accounts:edit", args=[account.pk]), {**data, "password": ""})
    )
    header = "name,protocol,host,port,security,username,password"
    csv = f"{header}\nCsv,imap,h.example,993,ssl,u,{IMPORTED}\n"
    upload = SimpleUploadedFile("a.csv", csv.encode(), "text/csv")
    visit(browser_client.post(reverse("accounts:import"), {"file": upload, "existing": "skip"}))
    for name in ("accounts:list", "accounts:new", "accounts:import"):
        visit(browser_client.get(reverse(name)))
    for pk in Account.objects.values_list("pk", flat=True):
        visit(browser_client.get(reverse("accounts:detail", args=[pk])))
        visit(browser_client.get(reverse("accounts:delete", args=[pk])))

    assert b"Connected." in pages[0] and b"Authentication failed" in pages[4]  # it all ran
    assert any(r.name.startswith("imapclient") for r in caplog.records)  # protocol logs on
    account.refresh_from_db()
    assert account.get_secret() == PASSWORD and Account.objects.get(name="Csv").has_secret
    everything = database_bytes()
    for secret in (PASSWORD, WRONG, IMPORTED):
        assert secret.encode() not in everything, f"{secret} in the database file"
        assert secret not in caplog.text, f"{secret} in the logs"
        for page in pages:
            assert secret.encode() not in page, f"{secret} in a page"


@pytest.mark.skipif(connection.vendor != "sqlite", reason="greps the SQLite file")
def test_the_database_grep_does_find_clear_text(transactional_db):
    # Proof that the check above can fail: text stored in clear is found in the file.
    Account.objects.create(name="Plain", host="h", username="u", notes=PASSWORD)
    assert PASSWORD.encode() in database_bytes()
