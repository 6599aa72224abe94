"""The run lifecycle, one path for every caller: the UI, the scheduler, the API and the commands.

`trigger` records a queued run and sends its id to the workers once the transaction commits.
`execute` claims a queued run with a conditional UPDATE (so one worker owns it), takes the
account's lease, runs the kind's engine (`jobs.kinds`) with a RunRecorder, records the outcome,
audits it and tells the listeners of `run_finished` (notifications, bulk migrations).
`run_here` is the command line's entrance: the same run, executed in the calling process with the
terminal's progress display as a second listener.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time
from collections.abc import Iterable

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

import audit
from backupweb.celery import app as celery_app
from jobs import kinds, leases
from jobs.models import FolderRun, Job, JobRun
from jobs.progress import RunRecorder, append_log
from jobs.signals import run_finished
from mail.errors import AuthenticationFailed, PermanentError, TransientError
from sitesettings.values import local_now

logger = logging.getLogger(__name__)
State = JobRun.State

RUN_TASK = "jobs.run_job"  # jobs/tasks.py
COMMAND_LINE = "command line on"  # how a command-line run names its worker: "... HOST pid N"
# Who the audit log names for a run's outcome (a person's own start is audited by the view).
ACTORS = {JobRun.Trigger.COMMAND: "command line", JobRun.Trigger.SCHEDULE: "schedule"}

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
    options: dict | None = None,
) -> tuple[JobRun, bool]:
    """Queue a run of the job, or join the one already queued. Returns (run, created).

    The run keeps its own copy of the options (the job's, or `options` from the command line).
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
                options=dict(job.options if options is None else options),
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
        JobRun.objects.filter(pk=run_id).update(enqueued_at=timezone.now())
        try:
            # By name: the task module imports this one, not the other way round.
            celery_app.send_task(RUN_TASK, (run_id,), countdown=countdown)
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


def execute(run_id: int, worker: str = "", listener=None) -> JobRun | None:
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
        run.report = _run_claimed(run, listener)
    finally:
        leases.release(run.account_id, run.pk)
        kick_next(run.account_id)
    report = run.report
    run.refresh_from_db()
    run.report = report  # the engine's report, for the command line's detailed lines
    _record_outcome(run)
    return run


def _record_outcome(run: JobRun) -> None:
    audit.record(
        ACTORS.get(run.trigger, "worker"), "run.finish", run,
        account=run.account_id, kind=run.job.kind, state=run.state,
    )  # fmt: skip
    notify_safely(run)
    try:
        run_finished.send(sender=JobRun, run=run)
    except Exception:  # a listener's bookkeeping must not turn a finished run into a failure
        logger.exception("a run_finished listener failed", extra={"run_id": run.pk})


class AccountBusy(Exception):
    """The command line was asked for a run of an account that another run is working on."""

    def __init__(self, run: JobRun, holder: JobRun | None):
        self.run, self.holder = run, holder
        what = f"run #{holder.pk} ({holder.job.name})" if holder else "another run"
        super().__init__(
            f"{run.account.name} is busy: {what} is running. Run #{run.pk} was not started; "
            "use --wait to wait for it."
        )


def run_here(
    job: Job,
    *,
    options: dict | None = None,
    only_folders: Iterable[str] = (),
    listener=None,
    wait: bool = False,
    poll_seconds: float = 2.0,
) -> JobRun:
    """The command line's run: recorded, leased, audited and notified like any other, executed
    in this process with `listener` (the terminal's display) told the progress as it comes.

    Raises AccountBusy when another run holds the account, unless `wait`: then it waits for it.
    """
    run, _ = trigger(
        job, JobRun.Trigger.COMMAND, only_folders=only_folders, options=options, send=False
    )
    if run.trigger != JobRun.Trigger.COMMAND:  # joined a queued run of the job: run it here
        JobRun.objects.filter(pk=run.pk).update(trigger=JobRun.Trigger.COMMAND)
    audit.record("command line", "run.start", run, account=run.account_id, kind=job.kind)
    worker = f"{COMMAND_LINE} {socket.gethostname()} pid {os.getpid()}"
    while True:
        result = execute(run.pk, worker=worker, listener=listener)
        if result is not None:
            return result
        run.refresh_from_db()
        if run.state != State.QUEUED:  # a worker took it meanwhile, or it was cancelled
            return run
        holder = (
            JobRun.objects.select_related("job").filter(pk=leases.holder(run.account_id)).first()
        )
        if holder is not None and _was_killed(holder):
            continue  # marked interrupted and its lease freed: try again at once
        if not wait:
            _refuse(run, holder)
            raise AccountBusy(run, holder)
        # Ours to run once the account is free: kept from the workers while we wait.
        JobRun.objects.filter(pk=run.pk, state=State.QUEUED).update(
            worker=worker, heartbeat_at=timezone.now()
        )
        time.sleep(poll_seconds)


def _was_killed(holder: JobRun) -> bool:
    """A command-line run on this host whose process is gone (killed, or its machine slept) is
    marked interrupted at once, rather than holding the account until its lease expires."""
    words = holder.worker.split()
    prefix = f"{COMMAND_LINE} {socket.gethostname()} pid "
    if not holder.worker.startswith(prefix) or not words[-1].isdigit():
        return False
    if _command_runs(int(words[-1])):
        return False
    message = "The command-line process running it was killed."
    interrupted = JobRun.objects.filter(pk=holder.pk, state=State.RUNNING).update(
        state=State.INTERRUPTED, finished_at=timezone.now(), error=message, error_kind="stale"
    )
    leases.release(holder.account_id, holder.pk)
    if interrupted:
        append_log(holder.pk, [f"{local_now():%H:%M:%S} Interrupted: {message}"])
    return True


def _command_runs(pid: int) -> bool:
    """Whether `pid` is still a manage.py process (a reused pid of another program is not)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return b"manage.py" in cmdline.read()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc here: assume it lives, the lease's expiry still frees the account
        return True


def _refuse(run: JobRun, holder: JobRun | None) -> None:
    """The refused run stays in the history, cancelled, with the reason."""
    reason = (
        f"Not started: the account was busy with run #{holder.pk}."
        if holder
        else ("Not started: the account was busy.")
    )
    JobRun.objects.filter(pk=run.pk, state=State.QUEUED).update(
        state=State.CANCELLED, finished_at=timezone.now(), summary=reason
    )
    audit.record("command line", "run.refused", run, account=run.account_id, kind=run.job.kind)


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


def _run_claimed(run: JobRun, listener=None):
    """Run the engine under a recorder; returns the engine's report (None if it raised)."""
    recorder = RunRecorder(run.pk, run.account_id, listener=listener)
    recorder.log(f"Run started on {run.worker or 'this process'} (attempt {run.attempts}).")
    recorder.start()
    outcome: dict = {}
    report = None
    try:
        report = kinds.run_engine(run, recorder)
        outcome = _outcome(run, recorder, report)
    except TransientError as exc:
        recorder.log(f"Temporary problem: {exc}")
        recorder.stop()
        # The command line reports it at once; a worker's run retries with backoff.
        if run.trigger != JobRun.Trigger.COMMAND and _requeue_after_transient(run, str(exc)):
            return None
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
    return report


def _outcome(run: JobRun, recorder: RunRecorder, report) -> dict:
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
        **_own_total(report),
        "messages_parked": sum(f.parked for f in report.folders),
        "folders_failed": sum(f.state == "failed" for f in report.folders),
        # A backup's mass-deletion alarm: a warning beside the state, which it leaves alone.
        "warning": getattr(report, "warning", ""),
        "vanished": getattr(report, "vanished", {}),
    }


def _own_total(report) -> dict[str, int]:
    """A kind whose folder rows are not all messages to fetch (a verification's comparisons
    with the server read no message) says its total itself."""
    total = getattr(report, "messages_total", None)
    return {} if total is None else {"messages_total": total}


def _record_folder_reports(run: JobRun, reports: Iterable) -> None:
    """The engine's final word on each folder overrides the last progress callback."""
    for report in reports:
        defaults = {"error": report.error[:2000]}
        state, parked = report.state, getattr(report, "parked", 0)
        if state == FolderRun.State.DONE and parked:  # the rest is in; these are retried
            state = FolderRun.State.PARTIAL
            defaults["error"] = defaults["error"] or f"{parked:,} parked (retried next run)"
        if state in FolderRun.State.values:  # "cancelled"/"paused" keep their progress
            defaults["state"] = state
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
    append_log(run.pk, [f"{local_now():%H:%M:%S} {line}"])


def notify_safely(run: JobRun) -> None:
    from jobs import notify

    for send in (notify.run_finished, notify.mass_deletion):
        try:
            send(run)
        except Exception:  # a broken notification channel must not turn a backup into a failure
            logger.exception("notification for run %s failed", run.pk, extra={"run_id": run.pk})


def kick_next(account_id: int) -> None:
    """Send the account's oldest waiting run to the workers: it was dropped while we held the
    lease."""
    now = timezone.now()
    waiting = (
        JobRun.objects.filter(account_id=account_id, state=State.QUEUED)
        .exclude(not_before__gt=now)
        .exclude(held_by_command_line())
        .order_by("queued_at")
        .first()
    )
    if waiting is not None:
        enqueue(waiting)


def held_by_command_line(now=None) -> Q:
    """Queued runs a command line is waiting to run itself (--wait): not for the workers while
    it is alive, which it shows by touching the run's heartbeat while it waits."""
    now = now or timezone.now()
    alive = now - dt.timedelta(seconds=settings.JOBS_STALE_SECONDS)
    return Q(worker__startswith=COMMAND_LINE, heartbeat_at__gte=alive)
