"""The shared corpus of real messages (../shared/corpus), read in place, never copied."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

CORPUS_DIR = Path(
    os.environ.get("BACKUPWEB_CORPUS", Path(__file__).resolve().parents[2] / "shared" / "corpus")
)


@dataclass(frozen=True)
class CorpusMessage:
    path: str  # relative to the corpus, e.g. "mailgem/foo.eml"
    size: int
    notes: frozenset[str]

    @property
    def file(self) -> Path:
        return CORPUS_DIR / self.path

    def read(self) -> bytes:
        return self.file.read_bytes()

    def has(self, tag: str) -> bool:
        return any(note == tag or note.startswith(tag + "(") or note.startswith(tag + "=")
                   for note in self.notes)  # fmt: skip


@cache
def corpus_messages() -> tuple[CorpusMessage, ...]:
    """Every single-message file of the corpus (mbox files excluded), in manifest order."""
    manifest = CORPUS_DIR / "MANIFEST.tsv"
    if not manifest.exists():
        raise RuntimeError(f"The shared corpus is missing: {manifest} not found.")
    with manifest.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return tuple(
        CorpusMessage(row["path"], int(row["size"]), frozenset(row["notes"].split("; ")))
        for row in rows
        if row["path"].endswith(".eml")
    )


def pick(*, tag: str | None = None, without: tuple[str, ...] = (), limit: int | None = None):
    """Corpus messages with a notes tag and none of the `without` tags."""
    chosen = [
        m for m in corpus_messages()
        if (tag is None or m.has(tag)) and not any(m.has(w) for w in without)
    ]  # fmt: skip
    return chosen[:limit] if limit else chosen
