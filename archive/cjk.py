"""Chinese, Japanese and Korean words inside longer runs: the runs' bigrams, indexed and searched.

Both search backends cut text into words at spaces and punctuation, so a CJK sentence written
without spaces is one long "word" and a search for a word inside it (增值税 in a sentence)
found nothing. The index gets the bigrams of each CJK run as well (`with_bigrams`), and a CJK
search term becomes the phrase of its bigrams (`bigram_phrase`), which matches wherever the
characters follow each other.
"""

from __future__ import annotations

import re

_RUN = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_CJK_RUN = re.compile(f"[{_RUN}]{{2,}}")
_CJK_TERM = re.compile(rf"[{_RUN}\s]+")
# Bigrams are taken from the start of a text only: a tsvector is refused over 1 MB.
BIGRAM_SOURCE_CHARS = 100_000


def bigrams(text: str) -> str:
    """The bigrams of the CJK runs of `text`, in order, separated by spaces."""
    runs = _CJK_RUN.findall((text or "")[:BIGRAM_SOURCE_CHARS])
    return " ".join(run[i : i + 2] for run in runs for i in range(len(run) - 1))


def with_bigrams(text: str) -> str:
    """`text`, followed by the bigrams of its CJK runs (if it has any)."""
    extra = bigrams(text)
    return f"{text}\n{extra}" if extra else text


def bigram_phrase(term: str) -> str:
    """A search term of CJK characters as the phrase of its bigrams; other terms unchanged."""
    if not _CJK_TERM.fullmatch(term) or not _CJK_RUN.search(term):
        return term
    return bigrams(term)
