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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
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
#: Movements re-sent per tick, per kind (lost ready messages and expired leases; automatic retries), and
#: transferring movements polled per tick. Each batch takes the least recently polled (or longest failed)
#: first, so every movement is reached within ceil(movements / limit) ticks however many there are.
REQUEUE_LIMIT = 500
RETRY_LIMIT = 100
TRANSFER_POLL_LIMIT = 500
#: ``on_fault(campaign id, what failed, exception)``: a failure in one campaign's movements, which the caller
#: records (the campaign tick: on the campaign) while the other campaigns' movements go on.
OnFault = Callable[[int, str, Exception], None]


def make_ready(campaign_id: int, pending_steps: QuerySet) -> list[int]:
    """Move the planned movements of a campaign whose inputs exist to ready, enqueue them, and return their ids.

    A movement is ready when none of the steps it carries the outputs of is in ``pending_steps`` (the
    caller's steps that have not finished) and every movement it follows is done or cancelled.
    """
    pending_moves = Movement.objects.filter(followers=OuterRef("pk")).exclude(status__in=Movement.final_states())
    ready = Movement.objects.filter(campaign_id=campaign_id, status=M.PLANNED).exclude(
        after_steps__in=pending_steps).exclude(Exists(pending_moves))
    ids = [pk for pk, _ in bulk_transition(ready, "make_ready")]
    if ids:
        enqueue(ids)
    return ids


def requeue(running_campaigns: QuerySet, on_fault: OnFault | None = None) -> list[int]:
    """Re-enqueue the movements whose work may have been lost, poll transfers, retry failed ones; return the ids.

    - ready movements of ``running_campaigns`` no task picked up within ``REQUEUE_AFTER`` (a worker died,
      a broker restarted);
    - registering or ingesting movements whose worker stopped renewing its lease (``MSPROC_LEASE_SECONDS``,
      ``core.leases``): it died, or its attempt broke off;
    - transferring movements whose transfer moved on (``poll_transferring``);
    - failed movements with automatic retries left (``MSPROC_MAX_AUTO_RETRIES``).

    Each kind goes ``REQUEUE_LIMIT`` (``RETRY_LIMIT``) at a time, the least recently seen first. A failure
    in one campaign's movements goes to ``on_fault`` (raised without one) and the others go on.
    """
    stale = timezone.now() - REQUEUE_AFTER
    # Registering and ingesting are held by a worker that renews its lease; one that stopped renewing died.
    movements = list(Movement.objects.filter(
        Q(status=M.READY, status_changed_at__lt=stale, campaign__in=running_campaigns)
        | (Q(status__in=Movement.sources_of("start_transferring", "finish")) & abandoned())
    ).order_by(F("polled_at").asc(nulls_first=True), "pk").values_list("pk", flat=True)[:REQUEUE_LIMIT])
    if movements:  # the least recently requeued go first next time
        Movement.objects.filter(pk__in=movements).update(polled_at=timezone.now())
    # Transferring movements are polled here in batches; only those that moved on get a task.
    movements += poll_transferring(on_fault=on_fault)
    retry = list(Movement.objects.filter(status=M.FAILED, attempts__lt=settings.MSPROC_MAX_AUTO_RETRIES + 1,
                                         status_changed_at__lt=stale).order_by("status_changed_at", "pk")
                 .values_list("pk", flat=True)[:RETRY_LIMIT])
    for movement in Movement.objects.filter(pk__in=retry):
        with _isolated(movement.campaign_id, f"retrying movement {movement.key}", on_fault):
            try:
                movement.retry(comment="automatic retry of a failed transfer")
                movements.append(movement.pk)
            except IllegalTransition:
                continue
    if movements:
        Movement.objects.filter(pk__in=movements, status=M.READY).update(status_changed_at=timezone.now())
        enqueue(movements)
    return movements


@contextmanager
def _isolated(campaign_id: int, what: str, on_fault: OnFault | None) -> Iterator[None]:
    """Run one campaign's part in a savepoint; a failure is rolled back to it and given to ``on_fault``."""
    try:
        with transaction.atomic():
            yield
    except Exception as exc:
        if on_fault is None:
            raise
        on_fault(campaign_id, what, exc)


def enqueue(movement_ids: list[int]) -> None:
    """Send one ``advance_movement`` task per movement once the current transaction commits."""

    def send() -> None:
        for pk in movement_ids:
            advance_movement.delay(pk)

    transaction.on_commit(send)


def poll_transferring(limit: int | None = None, on_fault: OnFault | None = None) -> list[int]:
    """Poll up to ``limit`` (default TRANSFER_POLL_LIMIT) transferring movements, the least recently polled
    first, with one backend call per (backend, campaign); return the ids of those that moved on (arrived,
    stuck or failed), for ``advance_movement`` to finish.

    Movement keys are unique within a campaign, so a batch never mixes campaigns. A backend that does
    not answer leaves its movements transferring; the next tick asks again. Any other failure of one
    campaign's batch goes to ``on_fault`` (raised without one) and the other campaigns are polled.
    """
    batches: dict[tuple[str, int], list[Movement]] = defaultdict(list)
    transferring = list(Movement.objects.filter(status=M.TRANSFERRING).select_related("campaign", "destination")
                        .defer("campaign__plan", "campaign__spec")
                        .prefetch_related("sources", "dataset_types", "after_movements")
                        .order_by(F("polled_at").asc(nulls_first=True), "pk")[:limit or TRANSFER_POLL_LIMIT])
    if not transferring:
        return []
    Movement.objects.filter(pk__in=[m.pk for m in transferring]).update(polled_at=timezone.now())
    for movement in transferring:
        batches[(movement.destination.transfer_backend_name(), movement.campaign_id)].append(movement)
    # What every request needs, read once for all of them (not per movement).
    repos = _repo_roots({site.pk for m in transferring for site in m.sources.all()}
                        | {m.destination_id for m in transferring})
    plan_keys = _plan_keys({m.campaign_id for m in transferring})
    moved_on: list[int] = []
    for (name, campaign_id), movements in batches.items():
        try:
            backend = get_transfer_backend(name)
            progress = backend.poll([(build_request(m, repos=repos, plan_keys=plan_keys[campaign_id]),
                                      m.external_ids or {}) for m in movements])
        except TransferBackendError as exc:
            log.warning("polling %s transfers failed: %s", name, exc)
            report_backend_failure("transfer", name, "poll", str(exc))
            continue
        except Exception as exc:
            if on_fault is None:
                raise
            on_fault(campaign_id, "polling transferring movements", exc)
            continue
        moved_on += [m.pk for m in movements if m.key in progress and progress[m.key].state != "transferring"]
    return moved_on
