"""The audit log: append-only, never a secret, filterable, exportable, kept for a set time."""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging

import pytest
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from django.utils import timezone

import audit
from audit.log import purge
from audit.models import AppendOnlyError, AuditEvent


def test_record_keeps_who_what_when_and_the_address(cast, rf):
    request = rf.get("/", REMOTE_ADDR="198.51.100.4")
    request.user = cast.oscar
    event = audit.record(request, "account.change", cast.granted, fields=["host"])
    event = AuditEvent.objects.get(pk=event.pk)
    assert (event.actor, event.actor_id, event.ip) == ("oscar", cast.oscar.pk, "198.51.100.4")
    assert (event.target_type, event.target_id) == ("accounts.account", str(cast.granted.pk))
    assert event.account_id == cast.granted.pk
    assert event.details == {"fields": ["host"]}
    assert timezone.now() - event.at < dt.timedelta(seconds=5)


def test_details_that_name_a_secret_are_never_stored(cast):
    event = audit.record(cast.alice, "x.test", None, password="hunter2", token="t", note="ok")
    assert event.details == {"note": "ok"}


def test_events_cannot_be_changed_or_deleted_through_the_orm(cast):
    event = audit.record(cast.alice, "x.test", "target")
    event.action = "x.forged"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(action="x.forged")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get(pk=event.pk).action == "x.test"


def test_the_database_refuses_updates_even_in_raw_sql(cast):
    event = audit.record(cast.alice, "x.test", "target")
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {table} SET action = 'x.forged' WHERE id = %s", [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).action == "x.test"


def test_the_admin_site_offers_no_way_to_change_events(cast):
    event = audit.record(cast.alice, "x.test", "target")
    client = cast.client(cast.alice)
    assert client.get("/admin/audit/auditevent/").status_code == 200
    assert client.get(f"/admin/audit/auditevent/{event.pk}/delete/").status_code == 403
    response = client.post(f"/admin/audit/auditevent/{event.pk}/change/", {"action": "forged"})
    assert response.status_code == 403
    assert client.get("/admin/audit/auditevent/add/").status_code == 403


def test_retention_purges_old_events_only(cast, settings):
    settings.AUDIT_RETENTION_DAYS = 30
    old = AuditEvent(action="x.old", at=timezone.now() - dt.timedelta(days=31))
    old.save()
    recent = audit.record(cast.alice, "x.recent", None)
    assert purge() == 1
    assert not AuditEvent.objects.filter(pk=old.pk).exists()
    assert AuditEvent.objects.filter(pk=recent.pk).exists()
    assert AuditEvent.objects.filter(action="audit.purge").exists()
    settings.AUDIT_RETENTION_DAYS = 0
    AuditEvent(action="x.ancient", at=timezone.now() - dt.timedelta(days=9999)).save()
    assert purge() == 0


def test_the_purge_is_a_scheduled_task(settings):
    from backupweb.celery import app

    assert settings.CELERY_BEAT_SCHEDULE["audit-purge"]["task"] == "audit.purge"
    app.loader.import_default_modules()
    assert "audit.purge" in app.tasks


def test_key_rotation_is_in_the_audit_log(db, caplog):
    from accounts.rotation import rotate_all

    rotate_all()
    events = AuditEvent.objects.filter(action="keys.rotate")
    assert [e.details["message"].split(":")[0] for e in events.order_by("pk")] == [
        "key rotation started with 1 key(s) configured",
        "key rotation finished",
    ]


def test_service_log_lines_are_copied_with_their_account(cast):
    logging.getLogger("backupweb.audit").info(
        "pinned certificate AB:CD for account %r by %s", "granted", "alice",
        extra={"account_id": cast.granted.pk},
    )  # fmt: skip
    event = AuditEvent.objects.get(action="account.pin_certificate")
    assert event.account_id == cast.granted.pk


def test_administrators_filter_the_log_and_export_it_as_csv(cast):
    audit.record(cast.oscar, "job.create", "nightly", account=cast.granted)
    audit.record(cast.vera, "message.open", '=HYPERLINK("http://evil")', account=cast.granted)
    audit.record(cast.vera, "message.open", "other", account=cast.other)
    client = cast.client(cast.alice)
    page = client.get(reverse("audit:list"), {"actor": "vera", "account": cast.granted.pk})
    assert page.status_code == 200
    rows = page.context["page"].object_list
    assert [e.action for e in rows] == ["message.open"]
    response = client.get(reverse("audit:csv"), {"action": "message.", "actor": "vera"})
    assert response["Content-Disposition"].startswith("attachment;")
    table = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert table[0][:4] == ["at", "actor", "ip", "action"]
    assert len(table) == 3
    assert '\'=HYPERLINK("http://evil")' in [r[6] for r in table]  # no spreadsheet formula
    assert AuditEvent.objects.filter(action="audit.export", actor="alice").exists()


def test_only_administrators_see_the_audit_log(cast):
    for user in (cast.oscar, cast.vera):
        assert cast.client(user).get(reverse("audit:list")).status_code == 403
        assert cast.client(user).get(reverse("audit:csv")).status_code == 403
