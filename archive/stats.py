"""Figures about the archive for the dashboard and metrics."""

from __future__ import annotations

from django.db.models import Sum

from archive.models import Blob, Message


def archive_totals() -> tuple[int, int]:
    """(messages archived, bytes of distinct message content archived, before compression)."""
    size = Blob.objects.aggregate(total=Sum("size"))["total"] or 0
    return Message.objects.count(), size
