"""Jobs (what to do, when), their runs, and the per-folder progress the dashboard shows.

The database is the truth about runs: the UI, /metrics and the stale-run reaper read these rows,
never Celery's result backend.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from accounts import secrets

# A run's log keeps its first lines (connection, folders seen) and its most recent ones.
LOG_MAX_CHARS = 64_000


class Job(models.Model):
    class Kind(models.TextChoices):
        BACKUP = "backup", "Backup"
        SYNC = "sync", "Sync"
        RESTORE = "restore", "Restore"
        VERIFY = "verify", "Verify"
        EXPORT = "export", "Export"

    class Schedule(models.TextChoices):
        MANUAL = "manual", "Manual only"
        INTERVAL = "interval", "Every N hours"
        DAILY = "daily", "Daily at a time"
        WEEKLY = "weekly", "Weekly on chosen days"
        CRON = "cron", "Cron expression"

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=10, choices=Kind, default=Kind.BACKUP)
    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="jobs")
    # For sync/restore (later kinds): where messages go.
    destination = models.ForeignKey(
        "accounts.Account",
        on_delete=models.CASCADE,
        related_name="destination_jobs",
        null=True,
        blank=True,
    )
    # The kind's options as JSON (dates as ISO strings); see jobs.kinds.
    options = models.JSONField(default=dict, blank=True)
    schedule = models.CharField(max_length=10, choices=Schedule, default=Schedule.MANUAL)
    interval_hours = models.PositiveIntegerField(null=True, blank=True)
    time_of_day = models.TimeField(null=True, blank=True)
    # Celery/cron day numbers: 0 = Sunday ... 6 = Saturday.
    weekdays = models.JSONField(default=list, blank=True)
    cron = models.CharField("cron expression", max_length=120, blank=True, default="")
    enabled = models.BooleanField(default=True)
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="job",
    )
    # Apprise URLs, one per line, encrypted (they often hold tokens or SMTP passwords).
    # Empty: the site default (settings.NOTIFY_URLS).
    notify_urls_encrypted = models.TextField(blank=True, default="")
    notify_on_failure = models.BooleanField(default=True)
    notify_on_parked = models.BooleanField("notify when messages are parked", default=True)
    notify_on_auth_failure = models.BooleanField("notify on authentication failure", default=True)
    notify_on_success = models.BooleanField(default=False)
    notify_stale_days = models.PositiveIntegerField(
        "notify when no successful run for N days", null=True, blank=True
    )
    stale_notified_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("jobs:detail", args=[self.pk])

    def set_notify_urls(self, urls: list[str]) -> None:
        text = "\n".join(u.strip() for u in urls if u.strip())
        self.notify_urls_encrypted = (
            secrets.encrypt(text, owner=str(self.uid), field="notify_urls") if text else ""
        )

    def get_notify_urls(self) -> list[str]:
        if not self.notify_urls_encrypted:
            return []
        text = secrets.decrypt(self.notify_urls_encrypted, owner=str(self.uid), field="notify_urls")
        return [u for u in text.splitlines() if u.strip()]

    @property
    def has_own_notify_urls(self) -> bool:
        return bool(self.notify_urls_encrypted)


def free_job_name(name: str) -> str:
    """`name`, or `name 2`, `name 3`... whichever no job has yet (names are unique)."""
    name = name[:190]
    candidate, n = name, 2
    while Job.objects.filter(name=candidate).exists():
        candidate, n = f"{name} {n}", n + 1
    return candidate


class JobRun(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        PARTIAL = "partial", "Partial"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        INTERRUPTED = "interrupted", "Interrupted"
        PAUSED = "paused", "Paused (daily budget reached)"

    class Trigger(models.TextChoices):
        MANUAL = "manual", "Manual"
        SCHEDULE = "schedule", "Schedule"
        COMMAND = "command", "Command line"

    ACTIVE_STATES = (State.QUEUED, State.RUNNING)
    FINISHED_STATES = (
        State.SUCCEEDED,
        State.PARTIAL,
        State.FAILED,
        State.CANCELLED,
        State.INTERRUPTED,
        State.PAUSED,
    )

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="runs")
    # The job's account when the run was queued: what the one-run-per-account lease is about.
    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="runs")
    state = models.CharField(max_length=12, choices=State, default=State.QUEUED)
    trigger = models.CharField(max_length=10, choices=Trigger, default=Trigger.MANUAL)
    # Set when this run resumes an interrupted one or retries the failed folders of a partial one.
    resumes = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="resumed_by"
    )
    # Only these folders (retry of failed folders); empty: the job's own options.
    only_folders = models.JSONField(default=list, blank=True)
    # The options this run uses: the job's when it was queued, or the command line's. Null for
    # runs queued before this field existed: they use the job's.
    options = models.JSONField(null=True, blank=True)
    queued_at = models.DateTimeField(default=timezone.now)
    # Last time a Celery message was sent for it: the reaper re-sends for runs Redis lost.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    # Transient-error backoff: not to be started before this time.
    not_before = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True, default="")
    # Attempts at this piece of work, carried over to the run that resumes an interrupted one:
    # a run that kills its worker every time is quarantined after settings.JOBS_MAX_ATTEMPTS.
    attempts = models.PositiveSmallIntegerField(default=0)
    transient_retries = models.PositiveSmallIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    folders_total = models.PositiveIntegerField(default=0)
    folders_failed = models.PositiveIntegerField(default=0)
    messages_total = models.PositiveIntegerField(default=0)
    messages_fetched = models.PositiveIntegerField(default=0)
    messages_parked = models.PositiveIntegerField(default=0)
    bytes_fetched = models.BigIntegerField(default=0)
    summary = models.CharField(max_length=500, blank=True, default="")
    error = models.TextField(blank=True, default="")
    # "auth" (wrong or expired password), "permanent", "transient", "internal", "stale" or "".
    error_kind = models.CharField(max_length=12, blank=True, default="")
    log = models.TextField(blank=True, default="")
    # A backup's mass-deletion warning (the run itself may have succeeded), what vanished per
    # folder, and when an administrator acknowledged it (the dashboard lists it until then).
    warning = models.CharField(max_length=500, blank=True, default="")
    vanished = models.JSONField(default=dict, blank=True)
    warning_acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-queued_at", "-pk"]
        indexes = [
            models.Index(fields=["state", "heartbeat_at"]),
            models.Index(fields=["account", "-queued_at"]),
            models.Index(fields=["job", "-queued_at"]),
        ]
        constraints = [
            # A trigger while a run is queued joins it: at most one queued run per job.
            models.UniqueConstraint(
                fields=["job"], condition=Q(state="queued"), name="one_queued_run_per_job"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.job} #{self.pk} ({self.state})"

    def get_absolute_url(self) -> str:
        return reverse("jobs:run-detail", args=[self.pk])

    @property
    def is_active(self) -> bool:
        return self.state in self.ACTIVE_STATES

    @property
    def duration(self):
        if not self.started_at:
            return None
        return (self.finished_at or timezone.now()) - self.started_at


class FolderRun(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        # Done, except for messages parked (retried by the next run): not a full bar.
        PARTIAL = "partial", "Partial"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    run = models.ForeignKey(JobRun, on_delete=models.CASCADE, related_name="folders")
    folder = models.CharField(max_length=1000)  # display name
    state = models.CharField(max_length=10, choices=State, default=State.PENDING)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    bytes = models.BigIntegerField(default=0)
    total_bytes = models.BigIntegerField(default=0)  # of the messages to fetch; 0: unknown
    error = models.TextField(blank=True, default="")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["run", "folder"], name="one_folder_run_per_folder"),
        ]

    def __str__(self) -> str:
        return f"{self.folder} ({self.state})"

    @property
    def percent(self) -> int:
        if self.state in (self.State.DONE, self.State.SKIPPED) or not self.total:
            return 100 if self.state != self.State.PENDING else 0
        return min(100, self.done * 100 // self.total)


class AccountLease(models.Model):
    """One run per account across all workers: the holder renews it while it heartbeats."""

    account = models.OneToOneField(
        "accounts.Account", on_delete=models.CASCADE, primary_key=True, related_name="lease"
    )
    run = models.ForeignKey(JobRun, on_delete=models.SET_NULL, null=True, blank=True)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"lease on account {self.account_id} by run {self.run_id}"


# -- Sync and restore (issue 7) ---------------------------------------------------------------


class SyncedMessage(models.Model):
    """The UID map of a sync: one source message and where it is on the destination.

    Kept per (source, destination) account pair, so a job, the command line and a bulk row that
    sync the same pair share it, and a re-run copies nothing twice."""

    class How(models.TextChoices):
        COPIED = "copied", "Copied"
        MATCHED = "matched", "Already on the destination"
        DEDUPED = "deduped", "Same Gmail message as in another folder"

    source = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="+")
    destination = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="+")
    source_folder = models.CharField(max_length=1000)  # raw (wire) name
    source_uidvalidity = models.BigIntegerField()
    source_uid = models.BigIntegerField()
    dest_folder = models.CharField(max_length=1000)  # raw (wire) name
    dest_uidvalidity = models.BigIntegerField(null=True, blank=True)
    dest_uid = models.BigIntegerField(null=True, blank=True)  # None: no UIDPLUS, or deduped
    fingerprint = models.CharField(max_length=32, blank=True, default="")
    gm_msgid = models.BigIntegerField(null=True, blank=True)
    flags = models.JSONField(default=list, blank=True)  # as last carried over
    how = models.CharField(max_length=8, choices=How, default=How.COPIED)
    copied_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "source",
                    "destination",
                    "source_folder",
                    "source_uidvalidity",
                    "source_uid",
                ],
                name="jobs_synced_message_unique",
            ),
        ]
        indexes = [
            models.Index(
                fields=["source", "destination", "source_folder"], name="jobs_synced_src_folder"
            ),
            models.Index(fields=["source", "destination", "gm_msgid"], name="jobs_synced_gm"),
        ]

    def __str__(self) -> str:
        return f"{self.source_folder} #{self.source_uid} -> {self.dest_folder} #{self.dest_uid}"


class RestoredMessage(models.Model):
    """An archived message put back into a folder of an account: never restored there twice."""

    message = models.ForeignKey("archive.Message", on_delete=models.CASCADE, related_name="+")
    destination = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="+")
    dest_folder = models.CharField(max_length=1000)  # raw (wire) name
    dest_uidvalidity = models.BigIntegerField(null=True, blank=True)
    dest_uid = models.BigIntegerField(null=True, blank=True)
    restored_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["message", "destination", "dest_folder"],
                name="jobs_restored_message_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"message {self.message_id} -> {self.dest_folder} #{self.dest_uid}"


class BulkMigration(models.Model):
    """A CSV of source/destination pairs: one sync job per row, run a few at a time."""

    name = models.CharField(max_length=200)
    concurrency = models.PositiveSmallIntegerField(default=2)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("jobs:bulk-detail", args=[self.pk])


class BulkRow(models.Model):
    bulk = models.ForeignKey(BulkMigration, on_delete=models.CASCADE, related_name="rows")
    line = models.PositiveIntegerField()
    source_name = models.CharField(max_length=200, blank=True, default="")
    destination_name = models.CharField(max_length=200, blank=True, default="")
    job = models.ForeignKey(Job, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    error = models.TextField(blank=True, default="")  # the row could not become a job
    # Waiting for a free slot under the bulk's concurrency limit.
    waiting = models.BooleanField(default=False)

    class Meta:
        ordering = ["bulk", "line"]

    def __str__(self) -> str:
        return f"{self.bulk} line {self.line}"
