"""Benchmark: search and folder paging with 100,000 and 1,000,000 archived messages.
A script, never a test.

    .venv/bin/python bench/search.py [--messages 100000 1000000] [--keep DIR]
    DATABASE_URL=postgres://... .venv/bin/python bench/search.py --messages 100000

Messages are generated from the corpus straight into the database with bulk inserts (going
through IMAP would take hours at a million): each generated message takes the subject, the
addresses and the body text of a corpus message (the body cut to BODY_CHARS, a typical mail
text size) plus a unique serial word, and is indexed through `archive.search` exactly as the
backup indexes. Half the messages go into one INBOX (the folder paged), the rest over 20
folders. Reported: the median (and p90) of several runs of a one-word search, a phrase
search, a filtered search (word + account + date range + has attachment) and the first and the
last page of the INBOX by date, plus the search index size. Targets: searches < 200 ms,
pages < 100 ms at the median.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BASE_DIR))

BODY_CHARS = 4000
BATCH = 5000
RUNS = 15


def setup_django(data_dir: str) -> None:
    os.environ.setdefault("DATA_DIR", data_dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "backupweb.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def corpus_documents():
    from archive.indexing import document_for
    from tests.corpus import corpus_messages

    docs = []
    for m in corpus_messages():
        raw = m.read()
        doc = document_for(raw)
        doc.body = doc.body[:BODY_CHARS]
        docs.append((m, raw, doc))
    return docs


def generate(total: int, docs, start: int) -> None:
    """Messages start..total-1 (resumable: a kept database grows from 100k to 1M)."""
    import hashlib

    from django.db import transaction

    from accounts.models import Account
    from archive import search
    from archive.blobstore import get_store
    from archive.models import Blob, Folder, Message

    account, _ = Account.objects.get_or_create(
        name="bench", defaults={"host": "imap.example.org", "username": "bench"}
    )
    other, _ = Account.objects.get_or_create(
        name="bench-other", defaults={"host": "imap.example.org", "username": "other"}
    )
    folders = [Folder.objects.get_or_create(account=account, raw_name="INBOX", uidvalidity=1,
                                            defaults={"name": "INBOX"})[0]]  # fmt: skip
    for i in range(20):
        acc = account if i % 2 else other
        folders.append(Folder.objects.get_or_create(
            account=acc, raw_name=f"Lists/l{i}", uidvalidity=1,
            defaults={"name": f"Lists/l{i}", "delimiter": "/"})[0])  # fmt: skip
    blobs = {}
    # The corpus messages themselves are in the blob store: a result page's snippets are made
    # from them (on SQLite), as after a real backup.
    raws = [raw for _, raw, _ in docs]
    for raw, (sha, stored_size) in zip(raws, get_store().put_many(raws), strict=True):
        blobs[sha] = Blob(sha256=sha, size=len(raw), stored_size=stored_size)
    Blob.objects.bulk_create(list(blobs.values()), ignore_conflicts=True)
    rng = random.Random(start)
    base = datetime(2015, 1, 1, tzinfo=UTC)
    n = start
    while n < total:
        rows, pairs = [], []
        for i in range(n, min(n + BATCH, total)):
            m, raw, doc = docs[i % len(docs)]
            folder = folders[0] if i % 2 == 0 else folders[1 + rng.randrange(20)]
            when = base + timedelta(minutes=5 * i + rng.randrange(5))
            rows.append(Message(
                folder=folder, uidvalidity=1, uid=i + 1, blob_id=hashlib.sha256(raw).hexdigest(),
                flags=["\\Seen"] if rng.random() < 0.8 else [], internal_date=when,
                size=len(raw) + rng.randrange(100), subject=f"{doc.subject} s{i}"[:2000],
                from_addr=doc.from_addr, to_addrs=doc.to_addrs, cc_addrs=doc.cc_addrs,
                date=when, has_attachments=bool(doc.attachments) or rng.random() < 0.1,
                message_id=f"<bench{i}@example.org>",
            ))  # fmt: skip
            pairs.append(doc)
        with transaction.atomic():
            created = Message.objects.bulk_create(rows)
            search.index_documents(zip(created, pairs, strict=True))
        n += len(rows)
        print(f"\r  generated {n:,}/{total:,}", end="", flush=True)
    for folder in folders:
        count = Message.objects.filter(folder=folder).count()
        Folder.objects.filter(pk=folder.pk).update(message_count=count)
    print()
    # What the housekeeping does in the minutes after a backup: merge the index's segments.
    t = time.perf_counter()
    while search.compact(seconds=10):
        pass
    print(f"  search index merged in {time.perf_counter() - t:.1f} s")


def timed(fn, runs: int = RUNS) -> tuple[float, float]:
    fn()  # warm the cache once: the figures are for a server that is running
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.9) - 1]


def measure(total: int) -> list[tuple[str, float, float, float]]:
    from django.db import connection

    from accounts.models import Account
    from archive import browse, search
    from archive.models import Folder
    from archive.search import SearchQuery

    account = Account.objects.get(name="bench")
    inbox = Folder.objects.get(account=account, raw_name="INBOX")
    if connection.vendor == "sqlite":
        with connection.cursor() as c:
            c.execute("ANALYZE")
    else:
        with connection.cursor() as c:
            c.execute("ANALYZE")
    cases = [
        ("one-word search", 200, lambda: search.search(SearchQuery(words="kernel"))),
        ("phrase search", 200, lambda: search.search(SearchQuery(words='"mailing list"'))),
        (
            "filtered search",
            200,
            lambda: search.search(
                SearchQuery(
                    words="patch",
                    account_id=account.pk,
                    date_from=date(2015, 3, 1),
                    date_to=date(2024, 12, 31),
                    has_attachment=False,
                )
            ),
        ),  # fmt: skip
        ("rare word search", 200, lambda: search.search(SearchQuery(words=f"s{total // 2}"))),
        ("folder first page", 100, lambda: browse.folder_page([inbox.pk], "date", True)),
        ("folder last page", 100, lambda: browse.folder_page([inbox.pk], "date", True, last=True)),
        (
            "folder first page by subject",
            100,
            lambda: browse.folder_page([inbox.pk], "subject", False),
        ),  # fmt: skip
    ]
    out = []
    for name, target, fn in cases:
        median, p90 = timed(fn)
        out.append((name, median, p90, target))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--keep", help="data directory to use and keep (SQLite database)")
    args = parser.parse_args()
    data_dir = args.keep or tempfile.mkdtemp(prefix="bw-bench-search-")
    setup_django(data_dir)
    from django.db import connection

    from archive import search
    from archive.models import Message

    print(f"database: {connection.vendor}, data in {data_dir}")
    print("reading the corpus ...")
    docs = corpus_documents()
    for total in sorted(args.messages):
        have = Message.objects.count()
        t = time.perf_counter()
        if have < total:
            generate(total, docs, have)
        print(f"{total:,} messages (generated in {time.perf_counter() - t:.0f} s); "
              f"search index {search.index_size() / 2**20:,.0f} MiB")  # fmt: skip
        for name, median, p90, target in measure(total):
            verdict = "ok" if median < target else "SLOW"
            print(f"  {name:<30} median {median:8.1f} ms   p90 {p90:8.1f} ms   "
                  f"(target < {target} ms) {verdict}")  # fmt: skip


if __name__ == "__main__":
    main()
