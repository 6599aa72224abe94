"""Bulk migrations: a CSV of source/destination pairs becomes one sync job per row, run a few at a
time, with a status per row and a re-run of the failed rows only.

The file has the columns of the accounts CSV (`accounts/csv_import.py`) twice, prefixed with
`source_` and `destination_`: `source_name, source_host, source_port, source_security,
source_username, source_password, destination_...` (`protocol` is IMAP when left out). Every
account is validated with the account form, exactly like an account import; a row naming an
account that already exists uses it as it is (its other columns may stay empty).

Concurrency: `dispatch` starts waiting rows while fewer than `concurrency` of the bulk's jobs
have a run queued or running; it is called on start and again whenever one of its runs ends
(`start_next_rows`, told by the runner's `run_finished` signal), and by the "continue" button.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from django.db import transaction
from django.dispatch import receiver

from accounts import csv_import
from accounts.forms import AccountForm
from accounts.models import Account
from jobs import runner
from jobs.models import BulkMigration, BulkRow, Job, JobRun, free_job_name
from jobs.signals import run_finished

SIDES = ("source", "destination")
COLUMNS = csv_import.REQUIRED + csv_import.OPTIONAL


class BulkFileError(Exception):
    """The file as a whole cannot be read."""


@dataclass
class RowStatus:
    state: str  # "pending" | "running" | "done" | "failed"
    detail: str = ""
    run: JobRun | None = None


def read_pairs(data: bytes) -> list[tuple[int, dict[str, dict[str, str]]]]:
    """(line, {"source": values, "destination": values}) per non-empty row."""
    if len(data) > csv_import.MAX_BYTES:
        raise BulkFileError("The file is larger than 2 MB.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BulkFileError("The file is not UTF-8 text; save it as 'CSV UTF-8'.") from None
    first = text.split("\n", 1)[0]
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter=";" if first.count(";") > first.count(",") else ","
    )
    header = [h.strip().lower() for h in next(reader, [])]
    _check_header(header)
    pairs = []
    for values in reader:
        if not any(v.strip() for v in values):
            continue
        row = dict(zip(header, values + [""] * (len(header) - len(values)), strict=False))
        sides = {side: _side(row, side) for side in SIDES}
        pairs.append((reader.line_num, sides))
    if len(pairs) > csv_import.MAX_ROWS:
        raise BulkFileError(f"The file has more than {csv_import.MAX_ROWS} rows.")
    return pairs


def _check_header(header: list[str]) -> None:
    known = {f"{side}_{c}" for side in SIDES for c in COLUMNS}
    unknown = [h for h in header if h not in known]
    missing = [f"{side}_name" for side in SIDES if f"{side}_name" not in header]
    if unknown or missing:
        problems = []
        if missing:
            problems.append(f"missing column(s): {', '.join(missing)}")
        if unknown:
            problems.append(f"unknown column(s): {', '.join(unknown)}")
        raise BulkFileError(f"The header line is wrong: {'; '.join(problems)}.")


def _side(row: dict[str, str], side: str) -> dict[str, str]:
    values = {c: row.get(f"{side}_{c}", "") for c in COLUMNS}
    values["protocol"] = values["protocol"] or "imap"
    return values


def _account(values: dict[str, str]) -> tuple[Account | None, str]:
    name = values["name"].strip()
    existing = Account.objects.active().filter(name=name).first() if name else None
    if existing is not None:
        return existing, ""
    form = AccountForm(csv_import.form_data(values))
    if not form.is_valid():
        problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())
        return None, problems
    return form.save(), ""


def create(
    data: bytes, name: str, concurrency: int = 2, options: dict | None = None
) -> BulkMigration:
    """Read the file and create the accounts, one sync job per valid row, and the bulk rows."""
    pairs = read_pairs(data)
    with transaction.atomic():
        bulk = BulkMigration.objects.create(name=name, concurrency=max(1, concurrency))
        for line, sides in pairs:
            BulkRow.objects.create(bulk=bulk, line=line, **_row(bulk, sides, options or {}))
    return bulk


def _row(bulk: BulkMigration, sides: dict, options: dict) -> dict:
    names = {side: sides[side]["name"].strip() for side in SIDES}
    fields = {"source_name": names["source"], "destination_name": names["destination"]}
    accounts, problems = {}, []
    for side in SIDES:
        with transaction.atomic():  # a failed row leaves nothing behind
            account, error = _account(sides[side])
        accounts[side] = account
        if error:
            problems.append(f"{side}: {error}")
    if problems:
        return {**fields, "error": "; ".join(problems)}
    if accounts["source"].pk == accounts["destination"].pk:
        return {**fields, "error": "The source and the destination are the same account."}
    job = Job.objects.create(
        name=free_job_name(f"{bulk.name}: {names['source']} → {names['destination']}"),
        kind=Job.Kind.SYNC,
        account=accounts["source"],
        destination=accounts["destination"],
        options=options,
    )
    return {**fields, "job": job}


def status(row: BulkRow) -> RowStatus:
    if row.error:
        return RowStatus("failed", row.error)
    if row.job is None:
        return RowStatus("failed", "The job of this row was deleted.")
    run = row.job.runs.order_by("-queued_at", "-pk").first()
    if run is not None and run.is_active:
        return RowStatus("running", f"{run.messages_fetched:,} copied so far", run)
    if row.waiting or run is None:
        return RowStatus(
            "pending", "waiting for a free slot" if row.waiting else "not started", run
        )
    if run.state == JobRun.State.SUCCEEDED:
        return RowStatus("done", f"{run.messages_fetched:,} copied; {run.summary}", run)
    return RowStatus("failed", run.error or run.summary or run.get_state_display(), run)


def start(bulk: BulkMigration, only_failed: bool = False) -> int:
    """Mark rows as waiting (all that never ran, or only the failed ones) and dispatch."""
    rows = [r for r in bulk.rows.select_related("job") if r.job is not None]
    wanted = (
        [r for r in rows if status(r).state == "failed"]
        if only_failed
        else [r for r in rows if status(r).state == "pending"]
    )
    BulkRow.objects.filter(pk__in=[r.pk for r in wanted]).update(waiting=True)
    dispatch(bulk)
    return len(wanted)


def dispatch(bulk: BulkMigration) -> list[JobRun]:
    """Start waiting rows while fewer than `concurrency` of this bulk's runs are active."""
    started = []
    with transaction.atomic():
        bulk = BulkMigration.objects.select_for_update().get(pk=bulk.pk)
        jobs = bulk.rows.filter(job__isnull=False).values("job_id")
        active = JobRun.objects.filter(job_id__in=jobs, state__in=JobRun.ACTIVE_STATES)
        free = bulk.concurrency - active.values("job_id").distinct().count()
        waiting = bulk.rows.filter(waiting=True, job__isnull=False).select_related("job")
        for row in waiting.order_by("line")[: max(free, 0)]:
            run, _ = runner.trigger(row.job, JobRun.Trigger.MANUAL)
            row.waiting = False
            row.save(update_fields=["waiting"])
            started.append(run)
    return started


def dispatch_for_job(job_id: int) -> None:
    for bulk in BulkMigration.objects.filter(rows__job_id=job_id).distinct():
        dispatch(bulk)


@receiver(run_finished, dispatch_uid="jobs-bulk-next-rows")
def start_next_rows(sender, run: JobRun, **kwargs) -> None:
    """A bulk migration's next rows start when one of its runs ends."""
    if run.job.kind == Job.Kind.SYNC:
        dispatch_for_job(run.job_id)


def template_csv() -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([f"{side}_{c}" for side in SIDES for c in csv_import.REQUIRED])
    writer.writerow(
        ["Old box", "imap", "imap.old.example", "993", "ssl", "me@old.example", "old-password"]
        + ["New box", "imap", "imap.new.example", "993", "ssl", "me@new.example", "new-password"]
    )
    return out.getvalue()
