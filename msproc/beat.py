"""Celery beat's scheduler: django-celery-beat's database scheduler that also writes beat's heartbeat."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.db import DatabaseError, connection
from django_celery_beat.schedulers import DatabaseScheduler

log = logging.getLogger(__name__)


class Scheduler(DatabaseScheduler):
    """Beat's heartbeat every MSPROC_HEARTBEAT_SECONDS (campaigns.liveness), then the usual tick."""

    _last_heartbeat = 0.0

    def tick(self, *args, **kwargs):
        if time.monotonic() - self._last_heartbeat >= settings.MSPROC_HEARTBEAT_SECONDS:
            self._last_heartbeat = time.monotonic()
            self._heartbeat()
        return min(super().tick(*args, **kwargs), settings.MSPROC_HEARTBEAT_SECONDS)

    def _heartbeat(self, stopped: bool = False) -> None:
        from campaigns.liveness import record_heartbeat

        try:
            record_heartbeat("beat", details={"max_interval": self.max_interval}, stopped=stopped)
        except DatabaseError as exc:  # the database is away: beat goes on, the banner will say so
            log.warning("beat heartbeat failed: %s", exc)
            connection.close()  # the next beat reconnects

    def close(self):
        self._heartbeat(stopped=True)
        super().close()
