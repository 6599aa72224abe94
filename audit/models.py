"""One audit event per row, append-only.

Rows are never changed: `save()` refuses an existing row, `delete()` and queryset
`update()`/`delete()` refuse, and a database trigger refuses UPDATE (migration 0002). The only
way rows leave is `AuditEvent.purge_before()`, the retention purge (AUDIT_RETENTION_DAYS).
The actor and target are copied as text, not foreign keys: deleting a user or an account must
neither cascade into the log nor rewrite it.
"""

from __future__ import annotations

import datetime as dt

from django.db import models
from django.utils import timezone


class AppendOnlyError(Exception):
    """Raised when code tries to change or delete an audit event."""


class AuditQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("The audit log is append-only.")

    def delete(self):
        raise AppendOnlyError("The audit log is append-only: use AuditEvent.purge_before().")

    def bulk_update(self, *args, **kwargs):
        raise AppendOnlyError("The audit log is append-only.")


class AuditEvent(models.Model):
    at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)
    actor_id = models.IntegerField(null=True, blank=True, editable=False)  # the user's pk
    actor = models.CharField(max_length=150, blank=True, default="", editable=False)
    ip = models.GenericIPAddressField(null=True, blank=True, editable=False)
    action = models.CharField(max_length=60, db_index=True, editable=False)
    target_type = models.CharField(max_length=60, blank=True, default="", editable=False)
    target_id = models.CharField(max_length=64, blank=True, default="", editable=False)
    target = models.CharField(max_length=500, blank=True, default="", editable=False)
    # The account the event concerns (for filtering and for grants), as a plain id.
    account_id = models.IntegerField(null=True, blank=True, db_index=True, editable=False)
    details = models.JSONField(default=dict, blank=True, editable=False)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["actor", "-at"], name="audit_actor_at")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor or 'system'} {self.action} {self.target}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None or not self._state.adding:
            raise AppendOnlyError("An audit event cannot be changed once written.")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("The audit log is append-only.")

    @classmethod
    def purge_before(cls, cutoff: dt.datetime) -> int:
        """Retention: remove events older than `cutoff` (the one way rows leave)."""
        qs = models.QuerySet(model=cls).filter(at__lt=cutoff)  # a plain queryset may delete
        return qs._raw_delete(qs.db)
