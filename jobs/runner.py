"""Starting and executing runs: shared by the Celery tasks, the "run now" view and `run_job`.

`trigger` records a queued run and sends its id to the workers once the transaction commits.
`execute` claims a queued run with a conditional UPDATE (so one worker owns it), takes the
account's lease, runs the engine with a RunRecorder, and records the outcome.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from jobs import leases
from jobs.engine.errors import AuthenticationFailed, PermanentError, TransientError
from jobs.models import FolderRun, Job, JobRun
from jobs.progress import RunRecorder, append_log

logger = logging.getLogger(__name__)
State = JobRun.State

REPORT_STATES = {
    "succeeded": State.SUCCEEDED,
    "partial": State.PARTIAL,
    "failed": State.FAILED,
    "cancelled": State.CANCELLED,
    "paused": State.PAUSED,
}


def trigger(
    job: Job,
    how: str = JobRun.Trigger.MANUAL,
    *,
    only_folders: Iterable[str] = (),
    resumes: JobRun | None = None,
    send: bool = True,
) -> tuple[JobRun, bool]:
    """Queue a run of the job, or join the one already queued. Returns (run, created).

    send=False leaves it to the caller to execute the run (the command line does, in-process).
    """
    existing = job.runs.filter(state=State.QUEUED).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            run = JobRun.objects.create(
                job=job,
                account_id=job.account_id,
                trigger=how,
                only_folders=list(only_folders),
                resumes=resumes,
                attempts=resumes.attempts if resumes and resumes.state == State.INTERRUPTED else 0,
            )
    except IntegrityError:  # a concurrent trigger queued one first: join it
        existing = job.runs.filter(state=State.QUEUED).first()
        if existing is None:
            raise
        return existing, False
    if send:
        enqueue(run)
    return run, True


def enqueue(run: JobRun, countdown: float | None = None) -> None:
    """Send the run's id to the workers after the surrounding transaction commits."""
    run_id = run.pk

    def send() -> None:
        from jobs.tasks import run_job

        JobRun.objects.filter(pk=run_id).update(enqueued_at=timezone.now())
        try:
            run_job.apply_async((run_id,), countdown=countdown)
        except Exception as exc:  # Redis away: the run stays queued and the reaper re-sends it
            logger.warning("could not enqueue run %s: %s", run_id, exc, extra={"run_id": run_id})

    transaction.on_commit(send)


def cancel(run: JobRun) -> bool:
    """A queued run is cancelled at once; a running one stops at its next batch."""
    now = timezone.now()
    if JobRun.objects.filter(pk=run.pk, state=State.QUEUED).update(
        state=State.CANCELLED, finished_at=now, summary="Cancelled before it started."
    ):
        return True
    return bool(JobRun.objects.filter(pk=run.pk, state=State.RUNNING).update(cancel_requested=True))


def retry_failed_folders(run: JobRun) -> tuple[JobRun, bool] | None:
    failed = run.folders.filter(state=FolderRun.State.FAILED)
    folders = list(failed.values_list("folder", flat=True))
    if not folders:
        return None
    return trigger(run.job, JobRun.Trigger.MANUAL, only_folders=folders, resumes=run)


def execute(run_id: int, worker: str = "") -> JobRun | None:
    """Run a queued run here and now. None when it is not ours to run (taken, done, waiting)."""
    run = JobRun.objects.select_related("job", "account").filter(pk=run_id).first()
    if run is None or run.state != State.QUEUED:
        return None
    if run.not_before and run.not_before > timezone.now():
        enqueue(run, countdown=(run.not_before - timezone.now()).total_seconds())
        return None
    if not leases.acquire(run.account_id, run.pk):
        # Another run of this account is running; it re-sends us when it finishes.
        return None
    if not _claim(run, worker):
        leases.release(run.account_id, run.pk)
        return None
    try:
        _run_claimed(run)
    finally:
        leases.release(run.account_id, run.pk)
        kick_next(run.account_id)
    run.refresh_from_db()
    notify_safely(run)
    if run.job.kind == Job.Kind.SYNC:
        from jobs.kinds import after_run

        after_run(run)  # a bulk migration starts its next rows
    return run


def _claim(run: JobRun, worker: str) -> bool:
    now = timezone.now()
    claimed = JobRun.objects.filter(pk=run.pk, state=State.QUEUED).update(
        state=State.RUNNING,
        started_at=now,
        heartbeat_at=now,
        worker=worker[:200],
        attempts=F("attempts") + 1,
        cancel_requested=False,
    )
    if claimed:
        run.refresh_from_db()
    return bool(claimed)


def _run_claimed(run: JobRun) -> None:
    recorder = RunRecorder(run.pk, run.account_id)
    recorder.log(f"Run started on {run.worker or 'this process'} (attempt {run.attempts}).")
    recorder.start()
    outcome: dict = {}
    try:
        outcome = _call_engine(run, recorder)
    except TransientError as exc:
        recorder.log(f"Temporary problem: {exc}")
        recorder.stop()
        if _requeue_after_transient(run, str(exc)):
            return
        outcome = {"state": State.FAILED, "error": str(exc), "error_kind": "transient"}
    except PermanentError as exc:
        recorder.log(f"Failed: {exc}")
        kind = "auth" if isinstance(exc, AuthenticationFailed) else "permanent"
        outcome = {"state": State.FAILED, "error": str(exc), "error_kind": kind}
    except Exception as exc:  # the run must end in a state, whatever went wrong
        logger.exception("run %s crashed", run.pk, extra={"run_id": run.pk})
        recorder.log(f"Internal error: {type(exc).__name__}: {exc}")
        error = f"Internal error: {type(exc).__name__}: {exc}"
        outcome = {"state": State.FAILED, "error": error, "error_kind": "internal"}
    finally:
        recorder.stop()
    _finish(run, recorder, outcome)


def _run_backup(run: JobRun, recorder: RunRecorder):
    from jobs.engine.backup import backup_account

    return backup_account(
        run.account,
        backup_options(run.job.options, only_folders=run.only_folders),
        progress=recorder.progress,
        should_stop=recorder.should_stop,
        log=recorder.log,
    )


def _engine_for(kind: str):
    """The engine call for a job kind; every engine returns a report with the same shape."""
    if kind == Job.Kind.BACKUP:
        return _run_backup
    if kind == Job.Kind.VERIFY:
        from jobs.engine.verify import run_verify

        return run_verify
    from jobs.kinds import ENGINES

    if kind not in ENGINES:
        raise PermanentError(f"{Job.Kind(kind).label} jobs are not available yet.")
    return ENGINES[kind]


def _call_engine(run: JobRun, recorder: RunRecorder) -> dict:
    report = _engine_for(run.job.kind)(run, recorder)
    _record_folder_reports(run, report.folders)
    state = REPORT_STATES.get(report.state, State.FAILED)
    if recorder.stop_reason == "lost":
        state = State.INTERRUPTED
    return {
        "state": state,
        "error": report.error,
        "summary": report.summary(),
        "messages_fetched": report.messages_fetched,
        "bytes_fetched": report.bytes_fetched,
        "messages_parked": sum(f.parked for f in report.folders),
        "folders_failed": sum(f.state == "failed" for f in report.folders),
    }


def _record_folder_reports(run: JobRun, reports: Iterable) -> None:
    """The engine's final word on each folder overrides the last progress callback."""
    for report in reports:
        defaults = {"error": report.error[:2000]}
        if report.state in FolderRun.State.values:  # "cancelled"/"paused" keep their progress
            defaults["state"] = report.state
        FolderRun.objects.update_or_create(run=run, folder=report.folder, defaults=defaults)


def _requeue_after_transient(run: JobRun, error: str) -> bool:
    """Put the run back in the queue with backoff; False when retries are used up."""
    if run.transient_retries >= settings.JOBS_TRANSIENT_RETRIES:
        return False
    delay = settings.JOBS_RETRY_BACKOFF_SECONDS * 2**run.transient_retries
    try:
        with transaction.atomic():
            requeued = JobRun.objects.filter(pk=run.pk, state=State.RUNNING).update(
                state=State.QUEUED,
                not_before=timezone.now() + dt.timedelta(seconds=delay),
                transient_retries=F("transient_retries") + 1,
                # A network failure is not a crash: it does not count towards quarantine.
                attempts=F("attempts") - 1,
                error=error,
            )
    except IntegrityError:  # another run of this job is already queued: it will do the work
        return False
    if requeued:
        append_log(run.pk, [f"Retrying in {delay} s ({error})."])
        enqueue(run, countdown=delay)
    return bool(requeued)


def _finish(run: JobRun, recorder: RunRecorder, outcome: dict) -> None:
    state = outcome.pop("state", State.FAILED)
    now = timezone.now()
    fields = {"state": state, "finished_at": now, "heartbeat_at": now, **outcome}
    # Only if still ours: the reaper may have declared it interrupted in the meantime.
    JobRun.objects.filter(pk=run.pk, state=State.RUNNING).update(**fields)
    line = f"Run ended: {state}."
    if outcome.get("summary"):
        line += f" {outcome['summary']}"
    append_log(run.pk, [f"{timezone.localtime():%H:%M:%S} {line}"])


def notify_safely(run: JobRun) -> None:
    from jobs import notify

    try:
        notify.run_finished(run)
    except Exception:  # a broken notification channel must not turn a backup into a failure
        logger.exception("notification for run %s failed", run.pk, extra={"run_id": run.pk})


def kick_next(account_id: int) -> None:
    """Send the account's oldest waiting run to the workers: it was dropped while we held the
    lease."""
    now = timezone.now()
    waiting = (
        JobRun.objects.filter(account_id=account_id, state=State.QUEUED)
        .exclude(not_before__gt=now)
        .order_by("queued_at")
        .first()
    )
    if waiting is not None:
        enqueue(waiting)


def backup_options(options: dict, *, only_folders: Iterable[str] = ()):
    """The job's options JSON as the engine's BackupOptions (dates from ISO strings)."""
    from jobs.engine.backup import BackupOptions

    def date(value):
        return dt.date.fromisoformat(value) if value else None

    folders = list(only_folders) or options.get("folders") or None
    extra = {}
    if options.get("batch_bytes"):  # advanced knob, JSON only: bytes per FETCH of bodies
        extra["batch_bytes"] = int(options["batch_bytes"])
    return BackupOptions(
        **extra,
        folders=folders,
        include=list(options.get("include") or []),
        exclude=list(options.get("exclude") or []),
        since=date(options.get("since")),
        before=date(options.get("before")),
        max_message_size=options.get("max_message_size") or None,
        skip_trash_and_junk=bool(options.get("skip_trash_and_junk")),
    )
