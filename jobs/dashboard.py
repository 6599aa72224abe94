"""What the dashboard shows: every account's backup status, running runs, and problems."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import F, Max, Sum
from django.utils import timezone

from accounts.models import Account
from jobs import live, schedules
from jobs.models import Job, JobRun

State = JobRun.State


@dataclass
class AccountRow:
    """One account's backup status. A restore, sync or export is no backup: "last backup" and
    "last success" are backup runs only; a verification is shown apart."""

    account: Account
    last_backup: JobRun | None
    last_success: JobRun | None
    last_verify: JobRun | None
    next_run_at: dt.datetime | None
    messages: int
    bytes: int
    newest_message_at: dt.datetime | None = None  # internal date of the newest archived message


@dataclass
class Problem:
    account: Account
    text: str
    run: JobRun | None = None
    job: Job | None = None
    acknowledge: bool = False  # a warning an administrator acknowledges to take it off the list


@dataclass
class Dashboard:
    accounts: list[AccountRow] = field(default_factory=list)
    active: list[dict] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    message_count: int = 0
    archived_bytes: int = 0


def archive_totals() -> dict[int, tuple[int, int]]:
    """Messages and bytes archived per account id (kept current by archive.ingest)."""
    from archive.models import Folder

    rows = Folder.objects.values("account_id").annotate(
        n=Sum("message_count"), b=Sum("total_bytes")
    )
    return {r["account_id"]: (r["n"] or 0, r["b"] or 0) for r in rows}


def newest_messages() -> dict[int, dt.datetime]:
    """The internal date of each account's newest archived message: a backup that runs but
    finds nothing new for weeks shows here."""
    from archive.models import Message

    rows = Message.objects.values("folder__account_id").annotate(newest=Max("internal_date"))
    return {r["folder__account_id"]: r["newest"] for r in rows if r["newest"]}


def _latest(runs, **filters) -> JobRun | None:
    newest = F("finished_at").desc(nulls_last=True)  # PostgreSQL sorts NULLs first otherwise
    return runs.filter(**filters).order_by(newest, "-pk").first()


def account_rows(jobs_by_account: dict[int, list[Job]]) -> list[AccountRow]:
    totals, newest = archive_totals(), newest_messages()
    rows = []
    for account in Account.objects.active():
        runs = JobRun.objects.filter(account=account)
        backups = runs.filter(job__kind=Job.Kind.BACKUP)
        next_times = [t for t in map(schedules.next_run, jobs_by_account.get(account.pk, [])) if t]
        messages, nbytes = totals.get(account.pk, (0, 0))
        rows.append(
            AccountRow(
                account=account,
                last_backup=_latest(backups, state__in=JobRun.FINISHED_STATES),
                last_success=_latest(backups, state=State.SUCCEEDED),
                last_verify=_latest(
                    runs, job__kind=Job.Kind.VERIFY, state__in=JobRun.FINISHED_STATES
                ),
                next_run_at=min(next_times, default=None),
                messages=messages,
                bytes=nbytes,
                newest_message_at=newest.get(account.pk),
            )
        )
    return rows


def problems(jobs: list[Job], now: dt.datetime | None = None) -> list[Problem]:
    """A job that failed last time; an account not backed up for over twice its schedule."""
    now = now or timezone.now()
    found = []
    for job in jobs:
        runs = job.runs.all()
        last = _latest(runs, state__in=JobRun.FINISHED_STATES)
        if last is not None and last.state in (State.FAILED, State.PARTIAL, State.INTERRUPTED):
            text = f"{job.name}: last run {last.get_state_display().lower()}"
            found.append(Problem(job.account, f"{text}: {last.error or last.summary}", last, job))
        period = schedules.period(job)
        if not job.enabled or period is None:
            continue
        success = _latest(runs, state=State.SUCCEEDED)
        since = success.finished_at if success else job.created_at
        if now - since > 2 * period:
            when = f"since {since:%Y-%m-%d %H:%M}" if success else "ever"
            what = job.get_kind_display().lower()  # a scheduled sync or verify is no backup
            text = f"{job.name}: no successful {what} {when} ({schedules.describe(job)})"
            found.append(Problem(job.account, text, success, job))
    return found


def mass_deletions() -> list[Problem]:
    """Backups that found much of an account gone from the server, until acknowledged."""
    runs = JobRun.objects.exclude(warning="").filter(
        warning_acknowledged_at__isnull=True, account__retired_at__isnull=True
    )
    return [
        Problem(run.account, f"{run.job.name}: {run.warning}", run, run.job, acknowledge=True)
        for run in runs.select_related("account", "job").order_by("-pk")
    ]


def acknowledge(run: JobRun) -> bool:
    """An administrator saw the run's mass-deletion warning; False if it was acknowledged."""
    unseen = JobRun.objects.filter(pk=run.pk, warning_acknowledged_at__isnull=True)
    return bool(unseen.exclude(warning="").update(warning_acknowledged_at=timezone.now()))


def build() -> Dashboard:
    jobs = list(Job.objects.select_related("account", "periodic_task"))
    by_account: dict[int, list[Job]] = {}
    for job in jobs:
        by_account.setdefault(job.account_id, []).append(job)
    board = Dashboard(accounts=account_rows(by_account), problems=mass_deletions() + problems(jobs))
    board.message_count = sum(row.messages for row in board.accounts)
    board.archived_bytes = sum(row.bytes for row in board.accounts)
    active = JobRun.objects.filter(state__in=JobRun.ACTIVE_STATES).select_related("job", "account")
    board.active = [live.progress_context(run) for run in active.order_by("queued_at")]
    return board
