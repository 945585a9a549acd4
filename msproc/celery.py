"""The Celery application: configuration from Django settings (CELERY_*), tasks autodiscovered."""

import logging
import os

from celery import Celery, bootsteps

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "msproc.settings")

log = logging.getLogger(__name__)
app = Celery("msproc")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class HeartbeatStep(bootsteps.StartStopStep):
    """Each worker writes its heartbeat (campaigns.liveness) every MSPROC_HEARTBEAT_SECONDS, from its main process.

    A worker that exits (killed, or the broker's unrecoverable error) stops writing; a clean shutdown says so.
    """

    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.tref = None
        self.started_at = None

    def start(self, worker):
        from django.conf import settings
        from django.utils import timezone

        self.started_at = timezone.now()
        self.beat(worker)
        self.tref = worker.timer.call_repeatedly(settings.MSPROC_HEARTBEAT_SECONDS, self.beat, (worker,),
                                                 priority=10)

    def stop(self, worker):
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None
        self.beat(worker, stopped=True)

    def beat(self, worker, stopped: bool = False):
        from django.db import DatabaseError, connection

        from campaigns.liveness import record_heartbeat

        details = {"concurrency": worker.concurrency, "pool": getattr(worker, "pool_cls", None).__name__
                   if hasattr(getattr(worker, "pool_cls", None), "__name__") else ""}
        try:
            record_heartbeat("worker", worker.hostname, details=details, started_at=self.started_at, stopped=stopped)
        except DatabaseError as exc:  # the database is away: the next beat tries again
            log.warning("worker heartbeat failed: %s", exc)
            connection.close()  # the next beat reconnects


app.steps["worker"].add(HeartbeatStep)
