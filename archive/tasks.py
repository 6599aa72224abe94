"""Celery tasks of the archive: a thin shell over `archive.importer` for server-side imports."""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

log = logging.getLogger(__name__)


@shared_task(name="archive.import_mail", acks_late=True)
def import_mail(run_id: int) -> str | None:
    """Import the ImportRun's file or folder from the server's import folder."""
    from archive import importer
    from archive.models import ImportRun
    from archive.views_transfer import finish_run, import_root

    run = ImportRun.objects.filter(pk=run_id, state=ImportRun.State.QUEUED).first()
    if run is None:
        return None
    ImportRun.objects.filter(pk=run.pk).update(state=ImportRun.State.RUNNING)
    root = import_root()
    try:
        if root is None:
            raise importer.ImportRefused("No import folder is configured (IMPORT_DIR).")
        path = importer.resolve_import_path(root, run.source)

        def progress(report: importer.ImportReport) -> None:
            ImportRun.objects.filter(pk=run.pk).update(
                done_bytes=report.bytes_read,
                imported=report.imported,
                duplicates=report.duplicates,
            )

        report = importer.import_path(run.account, path, run.folder_name, progress=progress)
    except Exception as e:  # noqa: BLE001 - the run records any failure
        log.exception("import %s failed", run.pk)
        ImportRun.objects.filter(pk=run.pk).update(
            state=ImportRun.State.FAILED, error=str(e)[:2000], finished_at=timezone.now()
        )
        return "failed"
    run.refresh_from_db()
    finish_run(run, report)
    return run.state
