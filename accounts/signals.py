"""Signals other apps connect to; accounts never imports them."""

from __future__ import annotations

from django.dispatch import Signal

# Sent before an account is deleted from the UI or a command, with `account` and
# `delete_archive` (bool: the admin ticked "also delete archived mail"). With
# delete_archive=False the account row is retired and stays, so rows pointing at it survive;
# with True the row is deleted (cascading to archive rows) and a receiver in jobs/signals.py
# queues the blob cleanup (archive/gc.py) for the blobs nothing points at any more.
account_deleting = Signal()
