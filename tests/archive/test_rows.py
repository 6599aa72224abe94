"""archive/rows.py: many rows with one prepared statement, stored as the ORM would store them."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from archive.models import Blob, Message, MessageRef
from archive.rows import _statement, build, insert
from tests.helpers.archive import make_account, make_folder

pytestmark = pytest.mark.postgres  # also run against a real PostgreSQL by `make test`

PARIS = ZoneInfo("Europe/Paris")


def message(folder, uid: int, **fields) -> Message:
    values = {
        "folder": folder,
        "uidvalidity": 7,
        "uid": uid,
        "blob_id": "a" * 64,
        "flags": ["\\Seen", "$Étiquette"],
        "internal_date": dt.datetime(2024, 5, 1, 9, 30, 15, 250, tzinfo=PARIS),
        "size": 10,
        "subject": "Grüße",
        "date": dt.datetime(2024, 5, 1, 7, 0, tzinfo=dt.UTC),
        "first_seen_at": dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        "gm_labels": ["\\Inbox", "Travaux/été"],
    }
    return Message(**{**values, **fields})


def test_values_are_converted_exactly_as_the_orm_converts_them(db, archive_root):
    folder = make_folder(make_account("rows"))
    row = message(folder, 1, date=None, gm_msgid=2**62)
    _, columns = _statement(Message, False, connection.vendor)
    fast = [convert(getattr(row, attname)) for attname, convert in columns]
    fields = {f.attname: f for f in Message._meta.concrete_fields}
    orm = [
        fields[attname].get_db_prep_save(getattr(row, attname), connection)
        for attname, _ in columns
    ]
    assert [str(v) for v in fast] == [str(v) for v in orm]


def test_inserted_rows_read_back_like_rows_the_orm_saved(db, archive_root):
    folder = make_folder(make_account("rows"))
    Blob.objects.create(sha256="a" * 64, size=10, stored_size=9)
    message(folder, 1).save()
    insert(Message, [message(folder, 2)])
    saved, inserted = Message.objects.filter(folder=folder).order_by("uid")
    for field in Message._meta.concrete_fields:
        if field.attname not in ("id", "uid"):
            assert getattr(inserted, field.attname) == getattr(saved, field.attname), field.name


def test_conflicting_rows_are_skipped_when_asked(db, archive_root):
    folder = make_folder(make_account("rows"))
    Blob.objects.create(sha256="a" * 64, size=10, stored_size=9)
    message(folder, 1).save()
    refs = [MessageRef(message_id=Message.objects.get().pk, ref="<r@x>")] * 2
    insert(MessageRef, refs, ignore_conflicts=True)
    assert MessageRef.objects.count() == 1
    insert(Blob, [Blob(sha256="a" * 64, size=1, stored_size=1)], ignore_conflicts=True)
    assert Blob.objects.get().size == 10


def test_build_makes_the_same_instance_as_keyword_arguments_with_defaults_for_the_rest():
    given = {"folder_id": 3, "uid": 9, "blob_id": "b" * 64, "subject": "Grüße", "size": 10}
    given["first_seen_at"] = dt.datetime(2025, 1, 2, tzinfo=dt.UTC)  # its default is now()
    keywords, built = Message(**given), build(Message, **given)
    names = [f.attname for f in Message._meta.concrete_fields]
    assert [getattr(built, n) for n in names] == [getattr(keywords, n) for n in names]
    assert built.flags == [] and built.flags is not build(Message).flags  # a fresh default
    assert built.pk is None and built._state.adding
