"""Movement domain logic: carrying a movement through its lifecycle with the site's transfer backend.

``advance_movement`` is safe to call twice and from several workers: each
step starts with a conditional transition (only one caller wins) and the
backends are idempotent by movement key.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.leases import claimable, new_holder, renewing, takeover_comment
from core.lifecycle import IllegalTransition, record_event
from sites.models import ButlerRepo
from sites.services import report_backend_failure
from stack.paths import UnsafePath, safe_join

from .backends import MovementRequest, TransferBackendError, get_transfer_backend
from .choices import MovementKind, MovementStatus
from .models import DatasetType, Movement, Replica

log = logging.getLogger(__name__)
M = MovementStatus


def movement_dir(movement: Movement) -> Path:
    """Return the working directory of a movement (zips, results)."""
    # Only integers from the database: nothing a user chose.
    return settings.DATA_DIR / "campaigns" / str(int(movement.campaign_id)) / "movements" / str(int(movement.pk))


def tape_dir(campaign_name: str) -> Path:
    """Return a campaign's directory on the hub's tape, ``MSPROC_TAPE_DIR/<name>`` (resolved).

    Raises `UnsafePath` for a name that is not one safe path component (``..``, ``/``, an absolute path...)
    or that a symlink would carry outside ``MSPROC_TAPE_DIR``.
    """
    return safe_join(settings.MSPROC_TAPE_DIR, campaign_name, field="name")


def build_request(movement: Movement, *, repos: dict[int, str] | None = None,
                  plan_keys: tuple[str | None, str | None] | None = None) -> MovementRequest:
    """Return the backend request of a movement (sites' repositories, restrictions, work dir).

    ``repos`` (site id -> Butler root) and ``plan_keys`` (the campaign's instrument and skymap) may be passed
    by a caller building many requests (see ``poll_transferring``); otherwise they are read here.
    Raises TransferBackendError (permanent) when the campaign's name cannot name its tape directory.
    """
    sources = list(movement.sources.all())
    if repos is None:
        repos = _repo_roots([site.pk for site in sources] + [movement.destination_id])
    types = list(movement.dataset_types.all())
    instrument, skymap = plan_keys if plan_keys is not None else _plan_keys([movement.campaign_id])[
        movement.campaign_id]
    archive_from, archive_ids, tape = [], [], ""
    if movement.kind == MovementKind.ARCHIVE:
        try:
            tape = str(tape_dir(movement.campaign.name))
        except UnsafePath as exc:
            raise TransferBackendError(f"no tape directory for this campaign: {exc}", permanent=True) from None
        archived = list(movement.after_movements.all())
        archive_from = [str(movement_dir(m) / "zips") for m in archived]
        archive_ids = [{**(m.external_ids or {}), "key": m.key, "kind": m.kind} for m in archived]
    return MovementRequest(
        key=movement.key, kind=movement.kind,
        sources={site.code: repos.get(site.pk, "") for site in sources},
        destination=movement.destination.code, destination_repo=repos.get(movement.destination_id, ""),
        dataset_types=[dt.name for dt in types], dimensions={dt.name: list(dt.dimensions) for dt in types},
        collections=list(movement.collections), data_ids=dict(movement.data_ids),
        instrument=instrument or "MockCam", skymap=skymap or "mock_skymap",
        work_dir=str(movement_dir(movement)), expected_count=movement.expected_count,
        archive_from=archive_from, tape_dir=tape,
        archive_ids=archive_ids,
    )


def _backend_for(movement: Movement):
    return get_transfer_backend(movement.destination.transfer_backend_name())


def _sites_online(movement: Movement) -> bool:
    return movement.destination.accepts_work and all(site.status != "offline" for site in movement.sources.all())


def advance_movement(movement_id: int) -> str | None:
    """Carry a movement as far as it can go now; return its status (None if it is gone).

    ready -> registering -> transferring -> ingesting -> done. A transient
    error leaves it failed with the reason (the reconciler retries it); a
    verification shortfall leaves it stuck.
    """
    movement = (Movement.objects.select_related("campaign", "destination").defer("campaign__plan", "campaign__spec")
                .filter(pk=movement_id).first())
    if movement is None or movement.status in Movement.final_states():
        return getattr(movement, "status", None)
    holder = new_holder()
    if movement.status == M.READY:
        if movement.campaign.status != "running" or not _sites_online(movement):
            return movement.status
        try:
            movement.start_registering(holder=holder)
        except IllegalTransition:
            return None  # another worker has it
    elif not _take_lease(movement, holder):
        return movement.status  # a live worker holds it
    with renewing(Movement, [movement.pk], holder):
        return _carry(movement)


def _carry(movement: Movement) -> str:
    """Run the backend's part of each state the movement is in, under the caller's lease."""
    backend = _backend_for(movement)
    try:
        request = build_request(movement)
        if movement.status == M.REGISTERING:
            ids = backend.start(request)
            # Merged: what an operator action recorded (e.g. a Rucio retry marker) survives the restart.
            movement.start_transferring(external_ids={**(movement.external_ids or {}), **ids})
        if movement.status == M.TRANSFERRING:
            progress = backend.poll([(request, movement.external_ids)])[movement.key]
            if progress.state == "stuck":
                movement.mark_stuck(progress.reason)
                return movement.status
            if progress.state == "failed":  # e.g. the rule is gone: the reconciler retries the movement
                movement.fail(progress.reason or "transfer failed")
                return movement.status
            if progress.state == "transferring":
                return movement.status
            movement.start_ingesting(transferred=progress.transferred, bytes_=progress.bytes)
        if movement.status == M.INGESTING:
            ingested = backend.ingest(request)
            movement.finish(ingested=ingested)
    except TransferBackendError as exc:
        log.warning("movement %s: %s", movement.key, exc)
        if not (exc.stuck or exc.permanent):  # the service failed, not this movement
            operation = {M.REGISTERING: "start", M.TRANSFERRING: "poll", M.INGESTING: "ingest"}.get(movement.status,
                                                                                                   movement.status)
            report_backend_failure("transfer", backend.name, operation, str(exc))
        if exc.stuck:
            movement.mark_stuck(str(exc))
        else:
            movement.fail(str(exc))
    return movement.status


def _take_lease(movement: Movement, holder: str) -> bool:
    """Take the lease of a movement in flight that nobody holds, or whose worker died. Exactly one caller wins.

    Taking over registering or ingesting work (the worker died, or its attempt broke off) leaves an Event
    saying so; a transferring movement is free between polls and is taken without one.
    """
    if movement.status not in Movement.sources_of("mark_stuck"):  # registering, transferring, ingesting
        return False
    now = timezone.now()
    with transaction.atomic():
        claimed = Movement.objects.filter(claimable(now), pk=movement.pk, status=movement.status,
                                          holder=movement.holder, heartbeat_at=movement.heartbeat_at).update(
            holder=holder, heartbeat_at=now)
        if claimed and (movement.holder or movement.status != M.TRANSFERRING):
            record_event(movement, "take_over", movement.status, movement.status,
                         comment=takeover_comment(movement.holder, movement.heartbeat_at))
    if claimed:
        movement.holder, movement.heartbeat_at = holder, now
    return bool(claimed)


def retry_movement(movement: Movement, *, actor=None, comment: str = "") -> Movement:
    """Operator retry of a stuck or failed movement: retry what the backend holds, then stuck|failed -> ready.

    The backend retries what it holds first (``TransferBackend.retry``; Rucio: the judge repairer re-queues
    the rule's stuck locks now), and the ids it returns (Rucio: a retry marker) are kept in ``external_ids``
    so that the restarted movement waits for the repair instead of finding the rule still STUCK. Raises
    IllegalTransition (nothing done) when the movement is neither stuck nor failed, and
    TransferBackendError (movement unchanged) when the backend could not retry.
    """
    if movement.status not in Movement.sources_of("retry"):
        movement.retry(actor=actor, comment=comment)  # raises IllegalTransition with the stored status
    ids = dict(movement.external_ids or {})
    backend = _backend_for(movement)
    retried = backend.retry(ids)
    if retried != ids:
        Movement.objects.filter(pk=movement.pk).update(external_ids=retried)
        movement.external_ids = retried
        comment = "; ".join(filter(None, [comment, f"retried at {backend.name}"]))
    movement.retry(actor=actor, comment=comment)
    return movement


def cancel_movement(movement: Movement, *, actor=None, comment: str = "") -> Movement:
    """Operator cancel: planned|ready|stuck|failed -> cancelled, then the backend removes what it holds
    (``TransferBackend.cancel``; Rucio: the movement's rule).

    Raises IllegalTransition when the movement cannot be cancelled; a rule that could not be deleted is
    logged (the movement stays cancelled; Rucio's rule can be removed later by hand).
    """
    movement.cancel(actor=actor, comment=comment)
    ids = movement.external_ids or {}
    try:
        _backend_for(movement).cancel(dict(ids))
    except TransferBackendError as exc:
        log.warning("movement %s cancelled but its backend did not remove its transfer %s: %s", movement.key,
                    ids, exc)
    return movement


def _repo_roots(site_ids) -> dict[int, str]:
    return {repo.site_id: repo.root_uri for repo in ButlerRepo.objects.filter(site_id__in=list(site_ids),
                                                                              name=settings.MSPROC_REPO_NAME)}


def _plan_keys(campaign_ids) -> dict[int, tuple[str | None, str | None]]:
    """The instrument and skymap of each campaign's plan: two keys, not the whole plan (megabytes)."""
    campaigns = Movement._meta.get_field("campaign").related_model.objects  # through the relation: no app import
    keys = {pk: (instrument, skymap) for pk, instrument, skymap in campaigns.filter(
        pk__in=list(campaign_ids)).values_list("pk", "plan__instrument", "plan__skymap")}
    return defaultdict(lambda: (None, None), keys)


# ------------------------------------------------------------------------------------------- replicas


def refresh_replicas(repo: ButlerRepo) -> int:
    """Record what a repository holds (datasets and their measured bytes per type and RUN collection) as Replica
    rows; return the number of rows."""
    import lsst.pipe.base.tests.mocks  # noqa: F401  (mock storage classes)
    from lsst.daf.butler import Butler

    from stack.transfer import stored_bytes

    butler = Butler.from_config(repo.root_uri)
    counts: dict[tuple[str, str], int] = {}
    sizes: dict[tuple[str, str], int] = {}
    dims: dict[str, tuple[list[str], str]] = {}
    for dataset_type in butler.registry.queryDatasetTypes():
        dims[dataset_type.name] = (list(dataset_type.dimensions.required), dataset_type.storageClass_name)
        refs = list(butler.registry.queryDatasets(dataset_type, collections=["*"], findFirst=False))
        measured = stored_bytes(butler, refs)
        for ref in refs:
            key = (dataset_type.name, ref.run)
            counts[key] = counts.get(key, 0) + 1
            sizes[key] = sizes.get(key, 0) + measured.get(ref.id, 0)
    with transaction.atomic():
        types = {}
        for name in {name for name, _ in counts}:
            types[name], _ = DatasetType.objects.get_or_create(
                name=name, defaults={"dimensions": dims[name][0], "storage_class": dims[name][1]})
        Replica.objects.filter(butler_repo=repo).delete()
        Replica.objects.bulk_create(
            Replica(butler_repo=repo, dataset_type=types[name], collection=run, count=count,
                    bytes=sizes.get((name, run), 0))
            for (name, run), count in sorted(counts.items())
        )
    return len(counts)


def record_new_repository(sender, repo: ButlerRepo, **kwargs) -> None:
    """``sites.signals.repository_ready`` receiver: record what a newly created repository holds."""
    refresh_replicas(repo)
