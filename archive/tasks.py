"""Celery tasks of the archive: a thin shell over `archive.import_runs` for server-side imports."""

from __future__ import annotations

from celery import shared_task

from archive import import_runs


@shared_task(name="archive.import_mail", acks_late=True)
def import_mail(run_id: int) -> str | None:
    """Import the ImportRun's file or folder from the server's import folder."""
    return import_runs.run_import(run_id)
