"""Bulk import from CSV: the shared module, the upload page and `manage.py import_accounts`."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from accounts import csv_import
from accounts.models import Account

HEADER = "name,protocol,host,port,security,username,password"


def csv_bytes(*lines: str, bom: bool = False, sep: str = ",") -> bytes:
    text = "\r\n".join([HEADER.replace(",", sep), *lines]) + "\r\n"
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")


GOOD = "Sales,imap,mail.example.com,993,ssl,sales@example.com,pw-sales-1"
BAD_PORT = "Support,imap,mail.example.com,99999,ssl,support@example.com,pw-2"


@pytest.mark.django_db
def test_a_valid_file_creates_every_account_with_encrypted_passwords():
    outcome = csv_import.import_csv(csv_bytes(GOOD, "Ops,pop3,pop.example.com,995,ssl,ops,pw-3"))
    assert outcome.imported and [r.name for r in outcome.created] == ["Sales", "Ops"]
    ops = Account.objects.get(name="Ops")
    assert (ops.protocol, ops.port, ops.security) == ("pop3", 995, "ssl")
    assert ops.get_secret() == "pw-3"


@pytest.mark.django_db
def test_a_bad_row_stops_the_whole_import_and_names_row_and_column():
    outcome = csv_import.import_csv(csv_bytes(GOOD, BAD_PORT))
    assert not outcome.imported
    assert not Account.objects.exists()
    [bad] = outcome.plan.bad_rows
    assert (bad.line, bad.name) == (3, "Support")
    assert bad.errors == {"port": ["A port is a number from 1 to 65535."]}


@pytest.mark.django_db
def test_valid_rows_only_imports_the_good_ones():
    outcome = csv_import.import_csv(csv_bytes(GOOD, BAD_PORT), valid_only=True)
    assert outcome.imported
    assert list(Account.objects.values_list("name", flat=True)) == ["Sales"]


@pytest.mark.django_db
def test_a_bom_semicolons_quoted_separators_and_non_ascii_names_are_read():
    data = csv_bytes(
        'Zürich Büro;imap;mail.example.ch;993;ssl;zürich@example.ch;"pw;with;semicolons"',
        '"Ünïcode, Ltd.";imap;mail.example.ch;143;starttls;u2;"say ""hi"""',
        "日本語の受信箱;pop3;pop.example.jp;110;starttls;jp;pw-jp",
        bom=True,
        sep=";",
    )
    outcome = csv_import.import_csv(data)
    assert outcome.imported, [r.describe() for r in outcome.plan.bad_rows]
    zurich = Account.objects.get(name="Zürich Büro")  # the BOM did not stick to "name"
    assert zurich.get_secret() == "pw;with;semicolons"
    assert Account.objects.get(name="Ünïcode, Ltd.").get_secret() == 'say "hi"'
    assert Account.objects.filter(name="日本語の受信箱").exists()


@pytest.mark.django_db
def test_quoted_commas_and_line_breaks_in_a_comma_file():
    header = HEADER + ",notes"
    data = (
        f'{header}\n"Smith, John",imap,mail.example.com,993,ssl,john,pw,"line one\nline two"\n'
        f"{BAD_PORT},\n"
    ).encode()
    outcome = csv_import.import_csv(data)
    assert outcome.plan.rows[0].name == "Smith, John" and outcome.plan.rows[0].ok
    assert outcome.plan.rows[1].line == 4  # physical line numbers, after the two-line note


@pytest.mark.django_db
def test_a_preset_fills_server_port_and_security():
    data = (HEADER + ",preset\n" + "Ann,imap,,,,ann@gmail.com,app-pw,gmail\n").encode()
    assert csv_import.import_csv(data).imported
    ann = Account.objects.get(name="Ann")
    assert (ann.host, ann.port, ann.security, ann.provider) == (
        "imap.gmail.com",
        993,
        "ssl",
        "gmail",
    )


@pytest.mark.django_db
def test_existing_names_are_skipped_or_updated_as_chosen():
    csv_import.import_csv(csv_bytes(GOOD))
    changed = csv_bytes("Sales,imap,new.example.com,993,ssl,sales@example.com,")
    skipped = csv_import.import_csv(changed)
    assert [r.name for r in skipped.skipped] == ["Sales"]
    assert Account.objects.get(name="Sales").host == "mail.example.com"
    updated = csv_import.import_csv(changed, update_existing=True)
    assert [r.name for r in updated.updated] == ["Sales"]
    sales = Account.objects.get(name="Sales")
    assert sales.host == "new.example.com"
    assert sales.get_secret() == "pw-sales-1"  # an empty password keeps the stored one


@pytest.mark.django_db
def test_row_problems_are_reported_per_column():
    data = csv_bytes(
        "A,smtp,mail.example.com,25,ssl,a,pw",
        "B,imap,,993,tls,b,",
        "A,imap,mail.example.com,993,ssl,a2,pw",
    )
    rows = csv_import.plan(data).rows
    assert "protocol" in rows[0].errors
    assert set(rows[1].errors) == {"host", "password"}
    assert rows[2].errors == {"name": ["This name is already used on line 2 of the file."]}


@pytest.mark.parametrize(
    "data, message",
    [
        (
            b"name,protocol,host\nx,imap,h\n",
            "missing column(s): port, security, username, password",
        ),
        ((HEADER + ",pasword\n").encode(), "unknown column(s): pasword"),
        ("name;x\nZ\xfcrich".encode("latin-1"), "not UTF-8"),
        (b"", "empty"),
    ],
)
def test_a_file_that_cannot_be_read_says_why(data, message):
    with pytest.raises(
        csv_import.ImportFileError, match=message.replace("(", r"\(").replace(")", r"\)")
    ):
        csv_import.read_rows(data)


@pytest.mark.django_db
def test_the_template_imports_after_filling_in_passwords():
    template = csv_import.template_csv()
    assert template.startswith("name,protocol,host,port,security,username,password,preset")
    outcome = csv_import.import_csv(template.encode())
    assert outcome.imported, [r.describe() for r in outcome.plan.bad_rows]


def test_the_upload_page_shows_errors_and_imports_nothing(admin_client):
    upload = SimpleUploadedFile("accounts.csv", csv_bytes(GOOD, BAD_PORT), "text/csv")
    response = admin_client.post(reverse("accounts:import"), {"file": upload, "existing": "skip"})
    html = response.content.decode()
    assert "Nothing was imported" in html
    assert "<td>3</td><td>Support</td><td>port</td>" in html
    assert "pw-sales-1" not in html
    assert not Account.objects.exists()


def test_the_upload_page_imports_valid_rows_when_asked(admin_client):
    upload = SimpleUploadedFile("accounts.csv", csv_bytes(GOOD, BAD_PORT), "text/csv")
    data = {"file": upload, "existing": "skip", "valid_only": "on"}
    html = admin_client.post(reverse("accounts:import"), data).content.decode()
    assert "1 created" in html and "1 not imported because of errors" in html
    assert Account.objects.filter(name="Sales").exists()


def test_the_template_downloads_as_a_csv_attachment(admin_client):
    response = admin_client.get(reverse("accounts:import-template"))
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    assert response.content.startswith(b"name,protocol,host")


def test_the_command_prints_one_line_per_account(db, tmp_path, capsys):
    path = tmp_path / "accounts.csv"
    path.write_bytes(csv_bytes(GOOD, "Ops,pop3,pop.example.com,995,ssl,ops,pw-3"))
    call_command("import_accounts", str(path))
    out = capsys.readouterr().out
    assert "line 2: Sales: created" in out and "line 3: Ops: created" in out
    path.write_bytes(csv_bytes("Sales,imap,new.example.com,993,ssl,sales@example.com,"))
    call_command("import_accounts", str(path), "--update")
    assert "line 2: Sales: updated" in capsys.readouterr().out


def test_the_command_fails_with_the_row_errors_when_a_row_is_bad(db, tmp_path, capsys):
    path = tmp_path / "accounts.csv"
    path.write_bytes(csv_bytes(GOOD, BAD_PORT))
    with pytest.raises(CommandError, match="Nothing imported: 1 row"):
        call_command("import_accounts", str(path))
    assert "line 3: Support: error: port: A port is a number" in capsys.readouterr().out
    assert not Account.objects.exists()
