"""Movement scheduling: which movements are ready, and re-sending the work of those left behind.

The campaign tick (``campaigns.orchestration.reconcile``) calls ``make_ready`` for each running
campaign and ``requeue`` once per tick; each returns the ids of the movements it enqueued. Carrying a
movement (register, transfer, ingest) happens in the ``transfers.tasks.advance_movement`` task, one per
movement, enqueued after the state change commits. Everything here is set-based and safe in several
workers at once (conditional transitions; rows another worker holds are skipped).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from core.leases import abandoned
from core.lifecycle import IllegalTransition, bulk_transition
from sites.services import report_backend_failure

from .backends import TransferBackendError, get_transfer_backend
from .choices import MovementStatus
from .models import Movement
from .services import _plan_keys, _repo_roots, build_request
from .tasks import advance_movement

log = logging.getLogger(__name__)
M = MovementStatus
#: A ready movement whose task has not picked it up for this long is enqueued again (its message may be lost).
REQUEUE_AFTER = timedelta(seconds=30)
#: Movements re-sent per tick, per kind (lost ready messages and expired leases; automatic retries).
REQUEUE_LIMIT = 500
RETRY_LIMIT = 100


def make_ready(campaign_id: int, pending_steps: QuerySet) -> list[int]:
    """Move the planned movements of a campaign whose inputs exist to ready, enqueue them, and return their ids.

    A movement is ready when none of the steps it carries the outputs of is in ``pending_steps`` (the
    caller's steps that have not finished) and every movement it follows is done or cancelled.
    """
    pending_moves = Movement.objects.filter(followers=OuterRef("pk")).exclude(status__in=[M.DONE, M.CANCELLED])
    ready = Movement.objects.filter(campaign_id=campaign_id, status=M.PLANNED).exclude(
        after_steps__in=pending_steps).exclude(Exists(pending_moves))
    ids = [pk for pk, _ in bulk_transition(ready, "make_ready", {M.PLANNED}, M.READY)]
    if ids:
        enqueue(ids)
    return ids


def requeue(running_campaigns: QuerySet) -> list[int]:
    """Re-enqueue the movements whose work may have been lost, poll transfers, retry failed ones; return the ids.

    - ready movements of ``running_campaigns`` no task picked up within ``REQUEUE_AFTER`` (a worker died,
      a broker restarted);
    - registering or ingesting movements whose worker stopped renewing its lease (``MSPROC_LEASE_SECONDS``,
      ``core.leases``): it died, or its attempt broke off;
    - transferring movements whose transfer moved on (``poll_transferring``);
    - failed movements with automatic retries left (``MSPROC_MAX_AUTO_RETRIES``).
    """
    stale = timezone.now() - REQUEUE_AFTER
    # Registering and ingesting are held by a worker that renews its lease; one that stopped renewing died.
    movements = list(Movement.objects.filter(
        Q(status=M.READY, status_changed_at__lt=stale, campaign__in=running_campaigns)
        | (Q(status__in=[M.REGISTERING, M.INGESTING]) & abandoned())
    ).values_list("pk", flat=True)[:REQUEUE_LIMIT])
    # Transferring movements are polled here in batches; only those that moved on get a task.
    movements += poll_transferring()
    retry = list(Movement.objects.filter(status=M.FAILED, attempts__lt=settings.MSPROC_MAX_AUTO_RETRIES + 1,
                                         status_changed_at__lt=stale).values_list("pk", flat=True)[:RETRY_LIMIT])
    for movement in Movement.objects.filter(pk__in=retry):
        try:
            movement.retry(comment="automatic retry of a failed transfer")
            movements.append(movement.pk)
        except IllegalTransition:
            continue
    if movements:
        Movement.objects.filter(pk__in=movements, status=M.READY).update(status_changed_at=timezone.now())
        enqueue(movements)
    return movements


def enqueue(movement_ids: list[int]) -> None:
    """Send one ``advance_movement`` task per movement once the current transaction commits."""

    def send() -> None:
        for pk in movement_ids:
            advance_movement.delay(pk)

    transaction.on_commit(send)


def poll_transferring(limit: int = 500) -> list[int]:
    """Poll the transferring movements with one backend call per (backend, campaign); return the ids of
    those that moved on (arrived, stuck or failed), for ``advance_movement`` to finish.

    Movement keys are unique within a campaign, so a batch never mixes campaigns. A backend that does
    not answer leaves its movements transferring; the next tick asks again.
    """
    batches: dict[tuple[str, int], list[Movement]] = defaultdict(list)
    transferring = list(Movement.objects.filter(status=M.TRANSFERRING).select_related("campaign", "destination")
                        .defer("campaign__plan", "campaign__spec")
                        .prefetch_related("sources", "dataset_types", "after_movements").order_by("pk")[:limit])
    for movement in transferring:
        batches[(movement.destination.transfer_backend_name(), movement.campaign_id)].append(movement)
    # What every request needs, read once for all of them (not per movement).
    repos = _repo_roots({site.pk for m in transferring for site in m.sources.all()}
                        | {m.destination_id for m in transferring})
    plan_keys = _plan_keys({m.campaign_id for m in transferring})
    moved_on: list[int] = []
    for (name, campaign_id), movements in batches.items():
        backend = get_transfer_backend(name)
        try:
            progress = backend.poll([(build_request(m, repos=repos, plan_keys=plan_keys[campaign_id]),
                                      m.external_ids or {}) for m in movements])
        except TransferBackendError as exc:
            log.warning("polling %s transfers failed: %s", name, exc)
            report_backend_failure("transfer", name, "poll", str(exc))
            continue
        moved_on += [m.pk for m in movements if m.key in progress and progress[m.key].state != "transferring"]
    return moved_on
