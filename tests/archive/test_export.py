"""Exports: eml zips with a manifest and mboxrd files, streamed, with safe and unique names."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import mailbox
import os
import tracemalloc
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from archive.blobstore import get_store
from archive.export import (
    ExportError,
    export_account,
    iter_mboxrd,
    mboxrd_escape,
    stream_export,
)
from archive.folders import decode_folder_name
from archive.ingest import FetchedMessage, store_messages
from archive.models import Folder, Message
from archive.safenames import MAX_COMPONENT_BYTES
from tests.corpus import pick
from tests.helpers.archive import make_account

# Also run against a real PostgreSQL by `make test` (pytest -m postgres).
pytestmark = pytest.mark.postgres

WHEN = datetime(2023, 11, 5, 9, 30, tzinfo=UTC)

FROM_LINES = (
    b"Subject: quoting\r\n\r\nFrom the start of a line\r\n>From already quoted\r\n"
    b">>From twice\r\nFrom\r\nFromage is not a From line\r\n From indented\r\n"
)
NO_FINAL_NEWLINE = b"Subject: no newline at the end\r\n\r\nlast line"

UNSAFE_FOLDERS = [
    ("../../evil", "/"),
    ("..", "/"),
    ("INBOX.Sub.Deep", "."),
    ("a:b", "/"),
    ("a_b", "/"),
    ("Inbox", "/"),
    ("INBOX", "/"),
    ("CON", "/"),
    (decode_folder_name("x&AAA-y&ABs-[31m"), "/"),  # NUL and ESC, as a server could send them
    ("tab\there", "/"),
    ("\u202egpj.exe", "/"),
    ("Überweisungen & Belege", "/"),
    ("L" * 300, "/"),
]


def fetched(uid: int, raw: bytes, flags=("\\Seen",)) -> FetchedMessage:
    return FetchedMessage(uid=uid, raw=raw, flags=list(flags), internal_date=WHEN, size=len(raw))


def add_folder(account, name: str, delimiter: str = "/", uidvalidity: int = 1) -> Folder:
    return Folder.objects.create(
        account=account, name=name, raw_name=name, delimiter=delimiter, uidvalidity=uidvalidity
    )


@pytest.fixture
def archived(archive_root, db):
    """An account with an INBOX of corpus messages (mbox From lines included) and odd folders."""
    account = make_account("alice")
    inbox = add_folder(account, "INBOX")
    raws = [m.read() for m in pick(limit=20)] + [m.read() for m in pick(tag="mbox-from-line")]
    raws += [FROM_LINES, NO_FINAL_NEWLINE]
    store_messages(inbox, [fetched(uid, raw) for uid, raw in enumerate(raws, start=1)])
    return account


def read_zip(data: bytes) -> zipfile.ZipFile:
    zf = zipfile.ZipFile(io.BytesIO(data))
    assert zf.testzip() is None
    return zf


def export_bytes(account, **kwargs) -> bytes:
    out = io.BytesIO()
    export_account(account, out, **kwargs)
    return out.getvalue()


def archived_hashes(account) -> set[str]:
    rows = Message.objects.filter(folder__account=account).values_list("blob_id", flat=True)
    return set(rows)


def test_an_eml_export_holds_the_exact_bytes_of_every_archived_message(archived):
    zf = read_zip(export_bytes(archived))
    emls = [n for n in zf.namelist() if n.endswith(".eml")]
    hashes = {hashlib.sha256(zf.read(n)).hexdigest() for n in emls}
    assert len(emls) == Message.objects.filter(folder__account=archived).count()
    assert hashes == archived_hashes(archived)
    assert zf.read("INBOX/1.eml") == get_store().get(Message.objects.get(uid=1).blob_id)


def test_the_manifest_lists_every_message_with_its_path_and_hash(archived):
    zf = read_zip(export_bytes(archived))
    rows = list(csv.DictReader(io.StringIO(zf.read("manifest.csv").decode("utf-8"))))
    assert list(rows[0]) == [
        "folder", "uidvalidity", "uid", "flags", "internal_date", "sha256", "path",
    ]  # fmt: skip
    assert len(rows) == Message.objects.count()
    for row in rows:
        assert hashlib.sha256(zf.read(row["path"])).hexdigest() == row["sha256"]
    first = next(r for r in rows if r["uid"] == "1")
    assert first["folder"] == "INBOX" and first["uidvalidity"] == "1"
    assert first["flags"] == "\\Seen" and first["internal_date"] == "2023-11-05T09:30:00+00:00"


def test_an_mbox_export_round_trips_every_message_with_mboxrd_quoting(archived):
    zf = read_zip(export_bytes(archived, fmt="mbox"))
    assert zf.namelist() == ["INBOX.mbox"]
    data = zf.read("INBOX.mbox")
    assert b"\n>From the start of a line\r\n>>From already quoted\r\n>>>From twice\r\n" in data
    assert b"\nFrom\r\n" in data and b"\nFromage is not" in data and b"\n From indented" in data
    store = get_store()
    expected = []
    for msg in Message.objects.filter(folder__account=archived).order_by("uid"):
        raw = store.get(msg.blob_id)
        expected.append(raw if raw.endswith(b"\n") else raw + b"\n")  # mbox ends every message
    assert list(iter_mboxrd(io.BytesIO(data))) == expected


def test_an_mbox_export_is_read_by_pythons_mailbox_module_as_the_same_number_of_messages(
    archived, tmp_path
):
    path = tmp_path / "INBOX.mbox"
    path.write_bytes(read_zip(export_bytes(archived, fmt="mbox")).read("INBOX.mbox"))
    assert len(mailbox.mbox(path)) == Message.objects.count()


def test_mboxrd_quoting_works_when_a_line_is_split_across_chunks():
    message = b"x\n>>From here\nFrom there\nno From\n"
    expected = b"x\n>>>From here\n>From there\nno From\n"
    for size in range(1, len(message) + 1):
        chunks = [message[i : i + size] for i in range(0, len(message), size)]
        assert b"".join(mboxrd_escape(chunks)) == expected, size


def test_folder_names_in_an_export_are_safe_and_unique(archived, tmp_path):
    for n, (name, delimiter) in enumerate(UNSAFE_FOLDERS, start=2):
        folder = add_folder(archived, name, delimiter, uidvalidity=n)
        store_messages(folder, [fetched(1, b"Subject: folder %d\r\n\r\nbody\r\n" % n)])
    for fmt in ("eml", "mbox"):
        zf = read_zip(export_bytes(archived, fmt=fmt))
        names = zf.namelist()
        assert len({n.casefold() for n in names}) == len(names)
        for name in names:
            parts = name.split("/")
            assert not name.startswith("/") and "\\" not in name
            assert all(p not in ("", ".", "..") and p.isprintable() for p in parts), name
            assert all(len(p.encode()) <= MAX_COMPONENT_BYTES for p in parts), name
        target = tmp_path / fmt
        zf.extractall(target)
        extracted = [p for p in target.rglob("*") if p.is_file()]
        assert all(p.resolve().is_relative_to(target.resolve()) for p in extracted)
        assert len(extracted) == len(names)
    zf = read_zip(export_bytes(archived))
    assert "INBOX/Sub/Deep/1.eml" in zf.namelist()  # the server's hierarchy is kept
    exported = {hashlib.sha256(zf.read(n)).hexdigest() for n in zf.namelist() if ".eml" in n}
    assert exported == archived_hashes(archived)


def test_messages_kept_from_before_a_uidvalidity_change_get_their_own_names(archived):
    inbox = Folder.objects.get(account=archived, name="INBOX")
    old = FetchedMessage(
        uid=1, raw=b"Subject: old\r\n\r\nold", flags=[], internal_date=None, size=3
    )
    Folder.objects.filter(pk=inbox.pk).update(uidvalidity=99)
    inbox.refresh_from_db()
    store_messages(inbox, [old])  # UID 1 again, under the new UIDVALIDITY
    zf = read_zip(export_bytes(archived))
    assert zf.read("INBOX/1.eml") == b"Subject: old\r\n\r\nold"  # UIDVALIDITY 99, UID 1
    assert zf.read("INBOX/1-1.eml") == get_store().get(  # UIDVALIDITY 1, UID 1
        Message.objects.get(folder=inbox, uidvalidity=1, uid=1).blob_id
    )


def test_only_the_chosen_folders_are_exported(archived):
    work = add_folder(archived, "Work")
    store_messages(work, [fetched(1, b"Subject: work\r\n\r\nbody")])
    names = read_zip(export_bytes(archived, folders=["Work"])).namelist()
    assert names == ["Work/1.eml", "manifest.csv"]
    with pytest.raises(ExportError, match="'Nope'"):
        export_bytes(archived, folders=["Nope"])


class WriteOnly(io.RawIOBase):
    """An output that cannot seek or tell, like an HTTP response body."""

    def __init__(self):
        self.buffer = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.buffer += data
        return len(data)


def test_an_export_can_be_written_to_a_stream_that_cannot_seek(archived):
    out = WriteOnly()
    export_account(archived, out)
    zf = read_zip(bytes(out.buffer))
    hashes = {hashlib.sha256(zf.read(n)).hexdigest() for n in zf.namelist() if n.endswith(".eml")}
    assert hashes == archived_hashes(archived)


def test_exporting_a_large_message_keeps_memory_flat(archive_root, db, tmp_path):
    account = make_account("big")
    raw = b"Subject: big\r\n\r\n" + (b"0123456789abcdef" * 64 + b"\r\n") * 30_000  # ~31 MB
    store_messages(add_folder(account, "INBOX"), [fetched(1, raw)])
    del raw
    target = tmp_path / "big.zip"
    tracemalloc.start()
    try:
        with open(target, "wb") as out:
            export_account(account, out)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"export held {peak / 2**20:.0f} MiB"
    with zipfile.ZipFile(target) as zf:
        assert zf.getinfo("INBOX/1.eml").file_size > 30_000_000


def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_an_export_closed_early_reads_no_further_and_closes_the_blob_it_was_reading(
    archive_root, db
):
    account = make_account("dropped")
    raws = [b"Subject: %d\r\n\r\n" % i + base64.encodebytes(os.urandom(300_000)) for i in range(3)]
    store_messages(add_folder(account, "INBOX"), [fetched(i, r) for i, r in enumerate(raws, 1)])
    done: list[int] = []
    export = stream_export(
        Message.objects.filter(folder__account=account), progress=lambda n, total: done.append(n)
    )
    before = open_files()
    chunks = iter(export)
    read = 0
    while read < 100_000:  # the first message is being read
        read += len(next(chunks))
    assert open_files() > before and done == []
    export.close()  # what Django does when the client goes away
    assert open_files() == before
    assert list(chunks) == [] and done == []


@pytest.fixture
def out_dir(tmp_path) -> Path:
    path = tmp_path / "exports"
    path.mkdir()
    return path


def test_the_export_command_writes_the_zip_and_reports(archived, out_dir):
    target = out_dir / "out.zip"
    out = io.StringIO()
    call_command("export", "alice", "--output", str(target), stdout=out)
    count = Message.objects.filter(folder__account=archived).count()
    assert f"Exported {count} messages from 1 folder (" in out.getvalue()
    with zipfile.ZipFile(target) as zf:
        assert "manifest.csv" in zf.namelist()
    call_command("export", "alice", "-o", str(out_dir / "m.zip"), "--format", "mbox",
                 "--folder", "INBOX", stdout=io.StringIO())  # fmt: skip
    assert zipfile.ZipFile(out_dir / "m.zip").namelist() == ["INBOX.mbox"]
    assert sorted(p.name for p in out_dir.iterdir()) == ["m.zip", "out.zip"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nobody"], "No account named 'nobody'"),
        (["alice", "--folder", "Missing"], "No folder named 'Missing'"),
    ],
)
def test_the_export_command_fails_clearly(archived, out_dir, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("export", *args, "--output", str(out_dir / "x.zip"))
    assert list(out_dir.iterdir()) == []


def test_a_corrupted_blob_fails_the_export_and_leaves_no_half_written_zip(archived, out_dir):
    sha = Message.objects.get(uid=1).blob_id
    path = Path(get_store().path_for(sha))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CommandError, match=sha):
        call_command("export", "alice", "--output", str(out_dir / "x.zip"))
    assert list(out_dir.iterdir()) == []


def test_an_encrypted_archive_exports_the_plain_messages(
    archive_root, db, settings, encryption_key
):
    settings.ARCHIVE_ENCRYPTION_KEY = encryption_key
    account = make_account("secret")
    raw = b"Subject: sealed\r\n\r\nbody\r\n"
    store_messages(add_folder(account, "INBOX"), [fetched(1, raw)])
    assert read_zip(export_bytes(account)).read("INBOX/1.eml") == raw


def test_folders_whose_names_differ_only_by_a_leading_space_keep_their_own_children(archived):
    names = ("INBOX. name", "INBOX. name.kid", "INBOX.name", "INBOX.name.kid")
    for n, name in enumerate(names, start=2):
        folder = add_folder(archived, name, ".", uidvalidity=n)
        store_messages(folder, [fetched(1, b"Subject: in %s\r\n\r\nbody\r\n" % name.encode())])

    zf = read_zip(export_bytes(archived))
    rows = csv.DictReader(io.StringIO(zf.read("manifest.csv").decode()))
    where = {r["folder"]: r["path"].rsplit("/", 1)[0] for r in rows if r["folder"] in names}
    assert len(set(where.values())) == 4
    assert where["INBOX. name.kid"].startswith(where["INBOX. name"] + "/")
    assert where["INBOX.name.kid"].startswith(where["INBOX.name"] + "/")
