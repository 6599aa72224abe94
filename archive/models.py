"""What the archive holds: blobs (raw bytes, by hash), server folders and the messages in them.

The bytes themselves live in the blob store (`archive/blobstore.py`); a `Blob` row only records
that a durable, verified copy exists. Rows are written after the blob (see `archive/ingest.py`),
so a crash leaves at worst an orphan blob, never a row without its bytes.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone


class Blob(models.Model):
    # Hex sha256 of the exact raw bytes the server sent: the blob's name and its path in the store.
    sha256 = models.CharField(max_length=64, primary_key=True)
    size = models.BigIntegerField()
    stored_size = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.sha256


class Folder(models.Model):
    account = models.ForeignKey(
        "accounts.Account", on_delete=models.CASCADE, related_name="folders"
    )
    # Display name, decoded from modified UTF-7; raw_name is the wire name, kept exactly.
    name = models.CharField(max_length=1000)
    raw_name = models.CharField(max_length=1000)
    delimiter = models.CharField(max_length=1, blank=True, default="")
    special_use = models.CharField(max_length=32, blank=True, default="")
    uidvalidity = models.BigIntegerField(null=True, blank=True)  # None for POP3
    uidnext = models.BigIntegerField(null=True, blank=True)
    highest_modseq = models.BigIntegerField(null=True, blank=True)
    # Cursor: every UID <= highest_uid is stored or parked.
    highest_uid = models.BigIntegerField(default=0)
    deleted_on_server_at = models.DateTimeField(null=True, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    # RFC 8474 MAILBOXID where the server has OBJECTID: how a rename on the server is followed.
    mailbox_id = models.CharField(max_length=255, blank=True, default="")
    # Kept current by archive.ingest.store_messages (messages and raw bytes, not unique blobs).
    message_count = models.IntegerField(default=0)
    total_bytes = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["account", "name", "uidvalidity"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "raw_name", "uidvalidity"], name="archive_folder_unique"
            ),
            # NULLs are distinct in unique constraints: one POP3 folder per name all the same.
            models.UniqueConstraint(
                fields=["account", "raw_name"],
                condition=Q(uidvalidity__isnull=True),
                name="archive_folder_unique_without_uidvalidity",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Message(models.Model):
    folder = models.ForeignKey(Folder, on_delete=models.CASCADE, related_name="messages")
    uidvalidity = models.BigIntegerField(default=0)  # 0 for POP3
    uid = models.BigIntegerField()  # POP3: a local sequence; the UIDL is pop3_uidl
    pop3_uidl = models.CharField(max_length=255, blank=True, default="")
    blob = models.ForeignKey(Blob, on_delete=models.PROTECT, related_name="messages")
    flags = models.JSONField(default=list, blank=True)
    internal_date = models.DateTimeField(null=True, blank=True)
    size = models.BigIntegerField()
    message_id = models.CharField(max_length=998, blank=True, default="", db_index=True)
    subject = models.TextField(blank=True, default="")
    from_addr = models.TextField(blank=True, default="")
    to_addrs = models.TextField(blank=True, default="")
    cc_addrs = models.TextField(blank=True, default="")
    date = models.DateTimeField(null=True, blank=True)
    has_attachments = models.BooleanField(default=False)
    first_seen_at = models.DateTimeField(default=timezone.now)
    deleted_on_server_at = models.DateTimeField(null=True, blank=True)
    gm_msgid = models.BigIntegerField(null=True, blank=True, db_index=True)
    gm_labels = models.JSONField(default=list, blank=True)
    parse_error = models.TextField(blank=True, default="")  # "" when the headers parsed fine

    class Meta:
        ordering = ["folder", "uid"]
        constraints = [
            models.UniqueConstraint(
                fields=["folder", "uidvalidity", "uid"], name="archive_message_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["folder", "date"], name="archive_msg_folder_date"),
            models.Index(fields=["folder", "uid"], name="archive_msg_folder_uid"),
            models.Index(fields=["folder", "pop3_uidl"], name="archive_msg_folder_uidl"),
        ]

    def __str__(self) -> str:
        return f"{self.folder} #{self.uid}"


class ParkedMessage(models.Model):
    """A UID that failed to fetch or store: the cursor moves past it, the next run retries it."""

    folder = models.ForeignKey(Folder, on_delete=models.CASCADE, related_name="parked")
    uidvalidity = models.BigIntegerField(default=0)
    uid = models.BigIntegerField()
    error = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=1)
    first_failed_at = models.DateTimeField(default=timezone.now)
    last_failed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["folder", "uid"]
        constraints = [
            models.UniqueConstraint(
                fields=["folder", "uidvalidity", "uid"], name="archive_parked_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.folder} #{self.uid} (parked)"


# -- Browser (issue 6): conversations -------------------------------------------------------------


class MessageRef(models.Model):
    """A Message-ID that a message points at (In-Reply-To or References), recorded at ingest
    by `archive.threads`: what groups messages into conversations across folders."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="refs")
    # Capped: long enough for real Message-IDs, short enough for any database's index.
    ref = models.CharField(max_length=255, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "ref"], name="archive_messageref_unique"),
        ]

    def __str__(self) -> str:
        return self.ref


# -- Browser (issue 6): imports ---------------------------------------------------------------


class ImportRun(models.Model):
    """An import of mail files into an account's archive (an upload or the server import
    folder), with the progress the page shows and the per-file problems it met."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        PARTIAL = "partial", "Finished with problems"
        FAILED = "failed", "Failed"

    account = models.ForeignKey(
        "accounts.Account", on_delete=models.CASCADE, related_name="import_runs"
    )
    source = models.CharField(max_length=1000)  # a name under IMPORT_DIR, or "upload"
    folder_name = models.CharField(max_length=1000, blank=True, default="")
    state = models.CharField(max_length=10, choices=State, default=State.QUEUED)
    total_bytes = models.BigIntegerField(default=0)
    done_bytes = models.BigIntegerField(default=0)
    imported = models.IntegerField(default=0)
    duplicates = models.IntegerField(default=0)
    problems = models.JSONField(default=list, blank=True)  # [{"file": ..., "error": ...}]
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"import {self.source} ({self.state})"
