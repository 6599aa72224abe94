"""Sizes as every page, summary and warning writes them: one definition, Django's
filesizeformat (1 MB = 1,048,576 bytes). A summary in decimal megabytes beside a page in
binary ones read 54.6 MB for the 52.1 MB the pre-flight showed."""

from __future__ import annotations

from django.template.defaultfilters import filesizeformat


def size_text(nbytes: int | float) -> str:
    """ "52.1 MB", with a plain space (the filter's non-breaking one is for HTML)."""
    return str(filesizeformat(nbytes)).replace("\xa0", " ")
