"""Leases on work in flight: who works on a row now, renewed by a heartbeat while the work runs.

A worker that starts slow work on a row (a movement registering or ingesting, a batch of jobs being
submitted) takes its lease: ``holder`` names the process (``host:pid:nonce``) and ``heartbeat_at``
is renewed every ``MSPROC_HEARTBEAT_SECONDS`` by a thread of that process, with its own database
connection, for as long as the work runs. A worker that dies (SIGKILL, lost machine) stops renewing;
once ``heartbeat_at`` is older than ``MSPROC_LEASE_SECONDS`` the row is *abandoned* and the next
caller takes it over, writing an Event that says so. Taking a lease is a conditional UPDATE: of two
callers exactly one gets the row.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connection, connections, models
from django.db.models import Q
from django.utils import timezone

log = logging.getLogger(__name__)


class LeasedModel(models.Model):
    """Abstract base of rows that a worker holds while it works on them (see the module docstring)."""

    holder = models.CharField(max_length=128, blank=True, default="",
                              help_text="The worker process working on it now (host:pid:nonce); empty when none.")
    heartbeat_at = models.DateTimeField(null=True, blank=True,
                                        help_text="Last renewal of the holder's lease.")

    class Meta:
        abstract = True

    def lease_state(self, now: datetime | None = None) -> str:
        """Return "held" (a live holder), "abandoned" (a holder that stopped renewing) or "free"."""
        if not self.holder:
            return "free"
        return "abandoned" if self.heartbeat_at is None or self.heartbeat_at < lease_cutoff(now) else "held"


def new_holder() -> str:
    """Return a holder name unique to this call: the host and process, and a nonce (threads share a pid)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def lease_cutoff(now: datetime | None = None) -> datetime:
    """Return the time before which a heartbeat means its holder is dead."""
    return (now or timezone.now()) - timedelta(seconds=settings.MSPROC_LEASE_SECONDS)


def claimable(now: datetime | None = None) -> Q:
    """Rows nobody holds, or whose holder stopped renewing its lease."""
    return Q(holder="") | Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=lease_cutoff(now))


def abandoned(now: datetime | None = None, since_field: str = "status_changed_at") -> Q:
    """Rows left by a worker: a lease not renewed for MSPROC_LEASE_SECONDS (or never taken, by ``since_field``)."""
    cutoff = lease_cutoff(now)
    return Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, **{f"{since_field}__lt": cutoff})


def takeover_comment(holder: str, heartbeat_at: datetime | None) -> str:
    """The Event comment of a takeover: "taken over after its worker died" when a holder had it."""
    seen = f", last heartbeat {heartbeat_at:%Y-%m-%d %H:%M:%S} UTC" if heartbeat_at else ""
    if holder:
        return f"taken over after its worker died (worker {holder.rsplit(':', 1)[0]}{seen})"
    return f"taken over: the previous attempt stopped without finishing{seen}"


@contextmanager
def renewing(model: type[LeasedModel], pks: Iterable[int], holder: str) -> Iterator[None]:
    """Renew ``holder``'s lease on the rows ``pks`` while the block runs, then release it.

    The renewal runs in a daemon thread with its own database connection, so it goes on while the
    block waits on a backend and survives the caller's connection being killed. The release is
    best effort: when it fails, the lease expires by itself.
    """
    pks = list(pks)
    stop = threading.Event()
    interval = settings.MSPROC_HEARTBEAT_SECONDS

    def renew() -> None:
        try:
            while not stop.wait(interval):
                try:
                    model.objects.filter(pk__in=pks, holder=holder).update(heartbeat_at=timezone.now())
                except DatabaseError as exc:  # the database is away: try again at the next beat
                    log.warning("renewing the lease of %s %s failed: %s", model.__name__, pks, exc)
                    connection.close()
        finally:
            connections.close_all()

    thread = threading.Thread(target=renew, name=f"lease-{model.__name__}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        release(model, pks, holder)


def release(model: type[LeasedModel], pks: Iterable[int], holder: str) -> None:
    """Clear ``holder``'s lease on ``pks`` (best effort: a broken connection is closed and tried once more)."""
    for attempt in (1, 2):
        try:
            model.objects.filter(pk__in=list(pks), holder=holder).update(holder="")
            return
        except DatabaseError as exc:
            if attempt == 2 or connection.in_atomic_block:
                log.warning("releasing the lease of %s %s failed (it expires by itself): %s", model.__name__,
                            list(pks), exc)
                return
            connection.close()
