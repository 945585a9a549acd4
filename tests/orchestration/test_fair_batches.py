"""Batched work is fair: every item of every batched loop of the tick is reached within a bounded number of ticks.

Each test sets the batch limit below the number of items (the production limits are hundreds) and
checks that ``ceil(items / limit)`` rounds reach every item: the least recently polled (or longest
waiting) first, never the same first batch by id again and again.
"""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns import orchestration
from campaigns.models import Job
from campaigns.orchestration import TickReport, _prepare_jobs, _requeue_lost, poll_jobs, reconcile
from campaigns.services import create_campaign_from_spec
from sites.services import load_sites
from tests.factories import CampaignFactory, GroupFactory, JobFactory, SiteFactory, StepFactory
from transfers import orchestration as transfer_orchestration
from transfers.backends import TransferProgress
from transfers.backends import base as transfer_backends
from transfers.backends.noop import NoopTransferBackend
from transfers.models import Movement
from transfers.services import movement_dir

from .test_reconciler import TEMPLATES, noop  # noqa: F401  (fixture)

LIMIT = 2


class SlowRucio(NoopTransferBackend):
    """Rules that never finish; remembers which movements it was asked about."""

    name = "slow-fair"
    asked: list[str] = []

    def poll(self, requests):
        SlowRucio.asked += [request.work_dir for request, _ in requests]
        return {request.key: TransferProgress(state="transferring") for request, _ in requests}


@pytest.fixture
def two_campaigns(db, noop):  # noqa: F811
    load_sites()
    spec = (TEMPLATES / "2x2.yaml").read_text()
    return [create_campaign_from_spec(name, f"{spec}\noutput_prefix: u/msproc/{name}\n")
            for name in ("fair-old", "fair-new")]


def test_every_transferring_movement_is_polled_within_ceil_n_over_the_batch_ticks(
        two_campaigns, noop, monkeypatch, django_capture_on_commit_callbacks):  # noqa: F811
    transfer_backends.register("slow-fair", f"{__name__}.SlowRucio")
    noop.MSPROC_TRANSFER_BACKEND = "slow-fair"
    monkeypatch.setattr(transfer_orchestration, "TRANSFER_POLL_LIMIT", LIMIT)
    for campaign in two_campaigns:
        campaign.start()
    Movement.objects.update(status="transferring")
    everything = {str(movement_dir(movement)) for movement in Movement.objects.all()}
    assert len(everything) > 3 * LIMIT
    SlowRucio.asked = []
    ticks = math.ceil(len(everything) / LIMIT)
    for _ in range(ticks):
        with django_capture_on_commit_callbacks(execute=False):
            reconcile()
    assert len(SlowRucio.asked) == ticks * LIMIT, "each tick polls one batch"
    assert set(SlowRucio.asked) == everything, "the newer campaign's movements too"
    # The next round starts again with the least recently polled.
    oldest = [str(movement_dir(movement))
              for movement in Movement.objects.order_by("polled_at", "pk")[:LIMIT]]
    SlowRucio.asked = []
    transfer_orchestration.poll_transferring()
    assert sorted(SlowRucio.asked) == sorted(oldest)


def test_every_lost_movement_is_requeued_within_ceil_n_over_the_batch_ticks(
        two_campaigns, noop, settings, monkeypatch, django_capture_on_commit_callbacks):  # noqa: F811
    monkeypatch.setattr(transfer_orchestration, "REQUEUE_LIMIT", LIMIT)
    long_ago = timezone.now() - timedelta(seconds=settings.MSPROC_MOVEMENT_LEASE_SECONDS + 60)
    lost = list(Movement.objects.values_list("pk", flat=True)[:2 * LIMIT + 1])
    Movement.objects.filter(pk__in=lost).update(status="registering", status_changed_at=long_ago)
    requeued: set[int] = set()
    for _ in range(math.ceil(len(lost) / LIMIT)):
        report = TickReport()
        with django_capture_on_commit_callbacks(execute=False):
            _requeue_lost(report)
        assert len(report.requeued_movements) == LIMIT or len(requeued) + len(report.requeued_movements) == len(lost)
        requeued |= set(report.requeued_movements)
    assert requeued == set(lost)


def test_every_failed_movement_is_retried_within_ceil_n_over_the_batch_ticks(
        two_campaigns, noop, monkeypatch, django_capture_on_commit_callbacks):  # noqa: F811
    monkeypatch.setattr(transfer_orchestration, "RETRY_LIMIT", LIMIT)
    failed = list(Movement.objects.values_list("pk", flat=True)[:2 * LIMIT + 1])
    Movement.objects.filter(pk__in=failed).update(status="failed",
                                                  status_changed_at=timezone.now() - timedelta(hours=1))
    for _ in range(math.ceil(len(failed) / LIMIT)):
        with django_capture_on_commit_callbacks(execute=False):
            _requeue_lost(TickReport())
    assert set(Movement.objects.filter(pk__in=failed).values_list("status", flat=True)) == {"ready"}


def test_every_lost_submission_is_requeued_within_ceil_n_over_the_batch_ticks(db, monkeypatch,
                                                                              django_capture_on_commit_callbacks):
    monkeypatch.setattr(orchestration, "REQUEUE_BATCH", LIMIT)
    step = StepFactory()
    jobs = [JobFactory(group=GroupFactory(step=step), status="prepared") for _ in range(2 * LIMIT + 1)]
    requeued: set[int] = set()
    for tick in range(math.ceil(len(jobs) / LIMIT)):
        # Each tick is later than the last re-enqueue by more than REQUEUE_AFTER: all are "lost" again.
        Job.objects.update(status_changed_at=timezone.now() - orchestration.REQUEUE_AFTER * (10 + tick))
        Job.objects.filter(pk__in=requeued).update(status_changed_at=timezone.now() - orchestration.REQUEUE_AFTER * 2)
        report = TickReport()
        with django_capture_on_commit_callbacks(execute=False):
            _requeue_lost(report)
        assert len(report.requeued_jobs) == LIMIT or len(requeued | set(report.requeued_jobs)) == len(jobs)
        requeued |= set(report.requeued_jobs)
    assert requeued == {job.pk for job in jobs}


def test_every_running_job_is_polled_in_one_call_whatever_the_batch(db, noop, monkeypatch):  # noqa: F811
    monkeypatch.setattr(orchestration, "POLL_BATCH", LIMIT)
    step = StepFactory()
    jobs = [JobFactory(group=GroupFactory(step=step, status="running"), status="running", backend="noop")
            for _ in range(2 * LIMIT + 1)]
    report = poll_jobs()
    assert report.jobs_polled == len(jobs)
    assert report.jobs_finished == len(jobs)


def test_limited_capacity_prepares_the_longest_ready_group_first_across_campaigns(db, settings):
    settings.MSPROC_EXECUTION_BACKEND = "local"
    settings.MSPROC_LOCAL_MAX_RUNNING = 1
    hub = SiteFactory(code="HUB", is_hub=True)
    first, second = CampaignFactory(hub=hub, status="running"), CampaignFactory(hub=hub, status="running")
    now = timezone.now()
    # The first campaign's group has the lower id but became ready (again) just now; the second's waits longest.
    again = GroupFactory(step=StepFactory(stage__campaign=first, status="running"), status="ready",
                         status_changed_at=now)
    waiting = GroupFactory(step=StepFactory(stage__campaign=second, status="running"), status="ready",
                           status_changed_at=now - timedelta(hours=1))
    assert again.pk < waiting.pk
    report = TickReport()
    _prepare_jobs(report)
    assert len(report.jobs_prepared) == 1
    waiting.refresh_from_db()
    again.refresh_from_db()
    assert (waiting.status, again.status) == ("prepared", "ready")
