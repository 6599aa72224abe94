"""Beat runs the retention purge once a day."""

from __future__ import annotations

from celery import shared_task

from audit.log import purge as purge_events


@shared_task(name="audit.purge")
def purge() -> int:
    return purge_events()
