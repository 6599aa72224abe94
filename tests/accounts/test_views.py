"""Account pages in the Django test client: add, edit, test, pin, delete, list."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import Account
from accounts.signals import account_deleting
from mail.tls import normalize_fingerprint
from tests.helpers.accounts import dovecot_account


def form_data(dovecot, mail_user, **overrides) -> dict:
    data = {
        "name": "Team inbox",
        "provider": "custom",
        "protocol": "imap",
        "host": dovecot.host,
        "port": dovecot.imap_port,
        "security": "none",
        "username": mail_user.username,
        "password": mail_user.password,
        "tls_verify": "on",
        "tls_fingerprint": "",
        "notes": "",
    }
    data.update(overrides)
    return data


def test_an_admin_adds_an_account_and_its_password_is_stored_encrypted(
    admin_client, dovecot, mail_user
):
    response = admin_client.post(reverse("accounts:new"), form_data(dovecot, mail_user))
    account = Account.objects.get(name="Team inbox")
    assert response.status_code == 302 and response["Location"] == account.get_absolute_url()
    assert account.get_secret() == mail_user.password
    assert mail_user.password not in account.secret_encrypted


def test_a_new_account_needs_a_password(admin_client, dovecot, mail_user):
    response = admin_client.post(
        reverse("accounts:new"), form_data(dovecot, mail_user, password="")
    )
    assert response.status_code == 200
    assert b"Enter the password or app password." in response.content
    assert not Account.objects.exists()


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("port", "70000", "A port is a number from 1 to 65535."),
        ("host", "imaps://mail.example.com", "Enter a server name or IP address only"),
        ("tls_fingerprint", "12:34", "A SHA-256 fingerprint is 64 hexadecimal digits"),
        ("provider", "hotmail-classic", "Select a valid choice."),
    ],
)
def test_the_form_explains_bad_values(admin_client, dovecot, mail_user, field, value, message):
    data = form_data(dovecot, mail_user, **{field: value})
    response = admin_client.post(reverse("accounts:new"), data)
    assert message.encode() in response.content


def test_editing_never_shows_the_password_and_an_empty_field_keeps_it(
    admin_client, dovecot, mail_user
):
    account = dovecot_account(dovecot, mail_user)
    page = admin_client.get(reverse("accounts:edit", args=[account.pk]))
    assert mail_user.password.encode() not in page.content
    assert b"Leave empty to keep the stored password." in page.content
    data = form_data(dovecot, mail_user, name=account.name, password="", notes="moved desk")
    admin_client.post(reverse("accounts:edit", args=[account.pk]), data)
    account.refresh_from_db()
    assert account.notes == "moved desk"
    assert account.get_secret() == mail_user.password


def test_editing_with_a_new_password_replaces_it(admin_client, dovecot, mail_user):
    account = dovecot_account(dovecot, mail_user)
    data = form_data(dovecot, mail_user, name=account.name, password="brand new pw ")
    admin_client.post(reverse("accounts:edit", args=[account.pk]), data)
    account.refresh_from_db()
    assert account.get_secret() == "brand new pw "  # spaces kept: they can be part of it


def test_the_form_offers_presets_with_hints_through_a_script_file(admin_client):
    page = admin_client.get(reverse("accounts:new")).content.decode()
    assert 'id="account-presets" type="application/json"' in page
    assert "imap.gmail.com" in page and "outlook.office365.com" in page
    assert "js/accounts.js" in page
    assert "<script>" not in page  # no inline script: the CSP forbids it


def test_the_form_test_connects_before_saving_and_lists_folders(admin_client, dovecot, mail_user):
    response = admin_client.post(
        reverse("accounts:new-test"), form_data(dovecot, mail_user), HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert "Connected." in html and "INBOX" in html and "CONDSTORE" in html
    assert "<html" not in html  # a fragment for htmx
    assert not Account.objects.exists()  # nothing saved


def test_the_form_test_of_an_edit_uses_the_stored_password(admin_client, dovecot, mail_user):
    account = dovecot_account(dovecot, mail_user)
    data = form_data(dovecot, mail_user, name=account.name, password="")
    response = admin_client.post(
        reverse("accounts:edit-test", args=[account.pk]), data, HTTP_HX_REQUEST="true"
    )
    assert b"Connected." in response.content
    account.refresh_from_db()
    assert account.last_tested_at is None  # a form test does not touch the saved account


def test_the_form_test_reports_fields_it_cannot_test_with(admin_client, dovecot, mail_user):
    data = form_data(dovecot, mail_user, host="", name="")
    response = admin_client.post(reverse("accounts:new-test"), data, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "Cannot test yet." in html and "host" in html
    assert "name:" not in html  # a missing name does not stop a test


def test_a_self_signed_certificate_offers_to_pin_it_in_the_form(admin_client, dovecot, mail_user):
    data = form_data(dovecot, mail_user, security="ssl", port=dovecot.imaps_port)
    response = admin_client.post(reverse("accounts:new-test"), data, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    fingerprint = normalize_fingerprint(dovecot.cert.sha256)
    assert "is not trusted" in html
    assert f'data-pin-fingerprint="{fingerprint}"' in html


def test_the_account_page_tests_and_remembers_the_capabilities(admin_client, dovecot, mail_user):
    account = dovecot_account(dovecot, mail_user)
    response = admin_client.post(
        reverse("accounts:test", args=[account.pk]), HTTP_HX_REQUEST="true"
    )
    assert b"Connected." in response.content
    account.refresh_from_db()
    assert account.last_test_ok is True and "IDLE" in account.capabilities


def test_without_htmx_the_test_result_is_a_whole_page(admin_client, dovecot, mail_user):
    account = dovecot_account(dovecot, mail_user)
    response = admin_client.post(reverse("accounts:test", args=[account.pk]))
    assert b"<html" in response.content and b"Connected." in response.content


def test_pinning_from_the_account_page_makes_implicit_tls_work(admin_client, dovecot, mail_user):
    account = dovecot_account(dovecot, mail_user, security="ssl", port=dovecot.imaps_port)
    failed = admin_client.post(reverse("accounts:test", args=[account.pk]), HTTP_HX_REQUEST="true")
    fingerprint = normalize_fingerprint(dovecot.cert.sha256)
    assert fingerprint.encode() in failed.content
    assert b"Trust this certificate (pin it)" in failed.content
    account.refresh_from_db()
    assert account.last_test_ok is False
    admin_client.post(reverse("accounts:pin", args=[account.pk]), {"fingerprint": fingerprint})
    account.refresh_from_db()
    assert account.tls_fingerprint == fingerprint
    passed = admin_client.post(reverse("accounts:test", args=[account.pk]), HTTP_HX_REQUEST="true")
    assert b"Connected." in passed.content


def test_the_list_shows_provider_protocol_and_dashes_until_backups_exist(admin_client, db):
    Account.objects.create(
        name="Gmail of Ann", provider="gmail", host="imap.gmail.com", username="ann"
    )
    html = admin_client.get(reverse("accounts:list")).content.decode()
    assert "Gmail of Ann" in html and "Gmail / Google Workspace" in html and "IMAP" in html
    assert html.count(">—</td>") == 3  # last backup, messages, archived size


def test_deleting_asks_first_and_says_the_archive_is_kept(admin_client, db):
    account = Account.objects.create(name="Old", host="h.example", username="u")
    page = admin_client.get(reverse("accounts:delete", args=[account.pk])).content.decode()
    assert "Its archive is kept" in page
    assert "Also delete all mail archived from this account" in page
    assert Account.objects.filter(pk=account.pk).exists()


def test_deleting_without_the_tick_retires_the_account_and_keeps_its_row(admin_client, db):
    account = Account.objects.create(name="Old", host="h.example", username="u")
    account.set_secret("pw-old-1")
    account.save()
    seen = []
    uid = "test-account-deleting"
    account_deleting.connect(
        lambda **kw: seen.append(kw["delete_archive"]), weak=False, dispatch_uid=uid
    )
    try:
        admin_client.post(reverse("accounts:delete", args=[account.pk]), {})
    finally:
        account_deleting.disconnect(dispatch_uid=uid)
    retired = Account.objects.get(pk=account.pk)  # still there: the archive points at it
    assert retired.retired_at is not None and retired.secret_encrypted == ""
    assert retired.name.startswith("Old (deleted ")
    assert seen == [False]
    listing = admin_client.get(reverse("accounts:list")).content.decode()
    assert "Account Old deleted; its archive is kept." in listing
    assert "No accounts yet." in listing
    assert admin_client.get(reverse("accounts:detail", args=[account.pk])).status_code == 404
    admin_client.post(  # the name is free again
        reverse("accounts:new"),
        {"name": "Old", "provider": "custom", "protocol": "imap", "host": "h.example",
         "port": 993, "security": "ssl", "username": "u", "password": "p", "tls_verify": "on"},
    )  # fmt: skip
    assert Account.objects.active().filter(name="Old").exists()


def test_deleting_with_the_tick_deletes_the_account(admin_client, db):
    account = Account.objects.create(name="Old", host="h.example", username="u")
    admin_client.post(reverse("accounts:delete", args=[account.pk]), {"delete_archive": "on"})
    assert not Account.objects.filter(pk=account.pk).exists()


def test_the_account_page_shows_settings_but_never_the_password(admin_client, dovecot, mail_user):
    account = dovecot_account(dovecot, mail_user, notes="Ask Bob <b>first</b>")
    html = admin_client.get(account.get_absolute_url()).content.decode()
    assert account.host in html and "stored, encrypted" in html
    assert "Ask Bob &lt;b&gt;first&lt;/b&gt;" in html
    assert mail_user.password not in html


def test_the_account_page_shows_the_last_backup_its_jobs_and_offers_a_daily_job(
    admin_client, dovecot, mail_user
):
    from django.utils import timezone

    from archive.models import Folder
    from jobs.models import Job, JobRun

    account = dovecot_account(dovecot, mail_user)
    job = Job.objects.create(name="Nightly", account=account)
    JobRun.objects.create(
        job=job, account=account, state=JobRun.State.PARTIAL, finished_at=timezone.now()
    )
    Folder.objects.create(
        account=account, name="INBOX", raw_name="INBOX", uidvalidity=1,
        message_count=1234, total_bytes=5 * 1024 * 1024,
    )  # fmt: skip
    page = admin_client.get(account.get_absolute_url()).content.decode()
    assert "Partial," in page
    assert "1234" in page and "5.0\xa0MB" in page
    assert "Nightly" in page

    response = admin_client.post(reverse("jobs:add-daily", args=[account.pk]))
    assert response.status_code == 302
    assert account.jobs.filter(name__startswith="Daily backup").exists()


def test_deleting_an_account_but_keeping_its_archive_drops_its_jobs_and_schedules(
    admin_client, dovecot, mail_user
):
    from django_celery_beat.models import PeriodicTask

    from jobs.models import Job

    account = dovecot_account(dovecot, mail_user)
    admin_client.post(reverse("jobs:add-daily", args=[account.pk]))
    job = Job.objects.get(account=account)
    assert PeriodicTask.objects.filter(pk=job.periodic_task_id).exists()

    admin_client.post(reverse("accounts:delete", args=[account.pk]), {})
    account.refresh_from_db()
    assert account.retired_at is not None  # the archive is kept
    assert not Job.objects.filter(account=account).exists()
    assert not PeriodicTask.objects.filter(pk=job.periodic_task_id).exists()


def test_the_mass_deletion_thresholds_are_set_in_the_form_and_kept_when_left_out(
    admin_client, dovecot, mail_user
):
    data = form_data(dovecot, mail_user, mass_deletion_percent=5, mass_deletion_count=50)
    admin_client.post(reverse("accounts:new"), data)
    account = Account.objects.get(name="Team inbox")
    assert (account.mass_deletion_percent, account.mass_deletion_count) == (5, 50)
    edit = form_data(dovecot, mail_user, password="", notes="no thresholds sent")
    admin_client.post(reverse("accounts:edit", args=[account.pk]), edit)
    account.refresh_from_db()
    assert account.notes == "no thresholds sent"
    assert (account.mass_deletion_percent, account.mass_deletion_count) == (5, 50)


def test_a_new_account_without_thresholds_gets_the_defaults(admin_client, dovecot, mail_user):
    admin_client.post(reverse("accounts:new"), form_data(dovecot, mail_user))
    account = Account.objects.get(name="Team inbox")
    assert (account.mass_deletion_percent, account.mass_deletion_count) == (20, 500)
