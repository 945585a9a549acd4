"""Is the orchestrator alive? Heartbeats of the reconcile tick, the Celery workers and beat.

``record_heartbeat`` is one INSERT .. ON CONFLICT UPDATE; ``liveness`` reads every heartbeat in one
query and says what is wrong: no tick for MSPROC_TICK_STALE_SECONDS, no worker heard from for
MSPROC_LIVENESS_SECONDS, beat silent as long. The banner on every page (``liveness_banner``, a
context processor) and ``GET /api/v1/liveness/`` show it.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from .models import Heartbeat

K = Heartbeat.Kind
# Heartbeats older than this are ignored (a worker host renamed or retired); the admin can delete them.
FORGET_AFTER = timedelta(days=7)


def record_heartbeat(kind: str, name: str | None = None, *, details: dict | None = None, started_at=None,
                     stopped: bool = False) -> None:
    """Write ``kind``'s heartbeat for ``name`` (default: this host) now: one statement."""
    now = timezone.now()
    row = Heartbeat(kind=kind, name=name or socket.gethostname(), pid=os.getpid(), last_seen=now,
                    started_at=started_at or now, stopped=stopped, details=details or {})
    fields = ["pid", "last_seen", "stopped", "details"] + (["started_at"] if started_at else [])
    Heartbeat.objects.bulk_create([row], update_conflicts=True, unique_fields=["kind", "name"],
                                  update_fields=fields)


@dataclasses.dataclass
class Liveness:
    """What the heartbeats say: ``problems`` is empty when the tick, a worker and beat are alive."""

    checked_at: datetime
    tick: Heartbeat | None
    beat: Heartbeat | None
    workers: list[Heartbeat]
    alive_workers: list[Heartbeat]
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        """The API's view (``GET /api/v1/liveness/``)."""

        def beat(row: Heartbeat | None) -> dict | None:
            if row is None:
                return None
            return {"name": row.name, "pid": row.pid, "last_seen": row.last_seen, "started_at": row.started_at,
                    "seconds_ago": round((self.checked_at - row.last_seen).total_seconds(), 1),
                    "stopped": row.stopped, "details": row.details}

        return {
            "ok": self.ok, "stale": not self.ok, "problems": self.problems, "checked_at": self.checked_at,
            "tick": beat(self.tick), "beat": beat(self.beat),
            "workers": [{**beat(row), "alive": row in self.alive_workers} for row in self.workers],
            "thresholds": {"tick_seconds": settings.MSPROC_TICK_STALE_SECONDS,
                           "worker_seconds": settings.MSPROC_LIVENESS_SECONDS},
        }


def _ago(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


def liveness(now: datetime | None = None) -> Liveness:
    """Return the liveness of the tick, the workers and beat. One query."""
    now = now or timezone.now()
    rows = list(Heartbeat.objects.filter(last_seen__gte=now - FORGET_AFTER))
    tick = next((row for row in rows if row.kind == K.TICK), None)
    beat = next((row for row in rows if row.kind == K.BEAT), None)
    workers = [row for row in rows if row.kind == K.WORKER]
    worker_cut = now - timedelta(seconds=settings.MSPROC_LIVENESS_SECONDS)
    alive = [row for row in workers if row.last_seen >= worker_cut and not row.stopped]
    problems = []
    tick_cut = now - timedelta(seconds=settings.MSPROC_TICK_STALE_SECONDS)
    if tick is None:
        problems.append("no reconcile tick has ever run: start Celery beat and a worker")
    elif tick.last_seen < tick_cut:
        problems.append(f"no reconcile tick for {_ago(now - tick.last_seen)}: nothing moves forward")
    if not alive:
        last = max((row.last_seen for row in workers), default=None)
        problems.append("no worker has reported" + (f" for {_ago(now - last)}" if last else "")
                        + ": work is not being done")
    if beat is None or beat.stopped or beat.last_seen < worker_cut:
        problems.append("Celery beat is not running" + (f" (last seen {_ago(now - beat.last_seen)} ago)"
                                                       if beat else ""))
    return Liveness(now, tick, beat, workers, alive, problems)


def liveness_banner(request) -> dict[str, Any]:
    """Context processor: ``liveness`` for the banner of signed-in users' pages.

    Lazy: one query when a template shows the banner (base.html), none for partials that do not.
    """
    from django.utils.functional import SimpleLazyObject

    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"liveness": SimpleLazyObject(liveness)}
