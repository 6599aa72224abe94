from __future__ import annotations

import logging
import os

from celery import Celery, bootsteps

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backupweb.settings")

log = logging.getLogger(__name__)

app = Celery("backupweb")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class WorkerHeartbeat(bootsteps.StartStopStep):
    """Writes a short-lived Redis key every few seconds so /healthz can see a live worker."""

    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.timer_ref = None

    def start(self, worker):
        from backupweb.health import WORKER_HEARTBEAT_SECONDS

        self.beat(worker)
        self.timer_ref = worker.timer.call_repeatedly(
            WORKER_HEARTBEAT_SECONDS, self.beat, (worker,), priority=10
        )

    def stop(self, worker):
        if self.timer_ref is not None:
            self.timer_ref.cancel()

    def beat(self, worker):
        from backupweb.health import record_worker_heartbeat

        try:
            record_worker_heartbeat(worker.hostname)
        except Exception as exc:  # Redis away: the broker connection will say so too
            log.warning("worker heartbeat failed: %s", exc)


app.steps["worker"].add(WorkerHeartbeat)


@app.task(name="backupweb.ping")
def ping() -> str:
    return "pong"
