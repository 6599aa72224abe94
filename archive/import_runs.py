"""Background imports from the server's import folder: the folder, running a queued ImportRun.

The import page queues an ImportRun and the Celery task `archive.tasks.import_mail` calls
`run_import` on a worker; both read the configured folder with `import_root`. The import itself
is `archive.importer`; this module records its progress and outcome on the run row.
"""

from __future__ import annotations

import logging
from pathlib import Path

from django.utils import timezone

from archive import importer
from archive.models import ImportRun
from sitesettings.values import site_settings

log = logging.getLogger(__name__)


def import_root() -> Path | None:
    """The server folder whose files may be imported (settings page, else IMPORT_DIR), or None."""
    root = site_settings().import_dir
    return Path(root) if root else None


def run_import(run_id: int) -> str | None:
    """Import a queued run's file or folder; its final state, or None if it was not queued."""
    run = ImportRun.objects.filter(pk=run_id, state=ImportRun.State.QUEUED).first()
    if run is None:
        return None
    ImportRun.objects.filter(pk=run.pk).update(state=ImportRun.State.RUNNING)
    try:
        report = _import(run)
    except Exception as e:  # noqa: BLE001 - the run records any failure
        log.exception("import %s failed", run.pk)
        ImportRun.objects.filter(pk=run.pk).update(
            state=ImportRun.State.FAILED, error=str(e)[:2000], finished_at=timezone.now()
        )
        return ImportRun.State.FAILED
    run.refresh_from_db()
    finish_run(run, report)
    return run.state


def _import(run: ImportRun) -> importer.ImportReport:
    root = import_root()
    if root is None:
        raise importer.ImportRefused("No import folder is configured (IMPORT_DIR).")
    path = importer.resolve_import_path(root, run.source)

    def progress(report: importer.ImportReport) -> None:
        ImportRun.objects.filter(pk=run.pk).update(
            done_bytes=report.bytes_read,
            imported=report.imported,
            duplicates=report.duplicates,
        )

    return importer.import_path(run.account, path, run.folder_name, progress=progress)


def finish_run(run: ImportRun, report: importer.ImportReport) -> None:
    """Record a finished import's figures: partial when some files had problems."""
    run.imported, run.duplicates = report.imported, report.duplicates
    run.done_bytes = max(run.done_bytes, report.bytes_read)
    run.problems = report.problems
    run.state = ImportRun.State.PARTIAL if report.problems else ImportRun.State.SUCCEEDED
    run.finished_at = timezone.now()
    run.save()
