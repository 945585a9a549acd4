"""A tick in proportion to what changed: with a backend's change feed, only what it names is polled.

A backend with ``has_change_feed`` is asked what changed since its last poll; the tick polls those jobs
and a bounded sweep of the least recently polled ones, not every running job. The feed's answer is
never the only way to be seen: the sweep reaches every running job within ceil(jobs / POLL_SWEEP)
ticks, and a feed that fails or cannot tell makes the tick poll every job of that backend.
bench/orchestration_scale.py measures it at 10,000 and 50,000 running groups (docs/benchmarks.md).
"""

from __future__ import annotations

import math
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from campaigns import orchestration
from campaigns.backends import BackendError, Changes, JobStatus, register
from campaigns.backends.noop import NoopExecutionBackend
from campaigns.models import Campaign, Group, Job
from campaigns.orchestration import poll_jobs, reconcile
from sites.models import BackendHealth
from tests.factories import CampaignFactory, SiteFactory, StageFactory, StepFactory

pytestmark = pytest.mark.django_db

# Pinned: a tick over running groups of a change-fed backend when nothing changed, whatever their number.
# The running campaigns (1); per campaign, its savepoint (2) around the waiting steps (1), readying movements
# and groups (2 x 3 with their savepoints); preparing (1 in 2 savepoints: 5); polling: the latest poll (1),
# reading the sweep's jobs (1), storing their poll time (1), the jobs of every other backend (1);
# the campaigns that may finish (1) and per campaign its savepoint (2) around the steps' probes (1) and its
# unfinished steps (1); re-enqueueing lost jobs (1) and movements (3); clearing fault records (1).
QUIET_TICK_QUERIES = 29


class FeedBackend(NoopExecutionBackend):
    """Attempts run until a test finishes them; the change feed names those finished since a time, unless
    ``silent`` (a change the feed misses) or ``broken`` (the feed fails)."""

    name = "test-feed"
    has_change_feed = True
    finished: dict[str, float] = {}
    silent: set[str] = set()
    broken = False
    by_request_id = False

    def changed(self, since):
        if FeedBackend.broken:
            raise BackendError("the feed is down")
        names = {name for name, at in FeedBackend.finished.items() if at >= since and name not in FeedBackend.silent}
        if FeedBackend.by_request_id:
            return Changes(external_key="request_id", external_values=frozenset(_request_id(n) for n in names))
        return Changes(workflow_names=frozenset(names))

    def poll(self, jobs):
        return {job.workflow_name: JobStatus(state="succeeded", expected=1, succeeded=1)
                if job.workflow_name in FeedBackend.finished else JobStatus(state="running") for job in jobs}


def _request_id(workflow_name: str) -> int:
    return 1000 + int(workflow_name.rsplit("-", 1)[1])


@pytest.fixture
def feed(settings):
    register(FeedBackend.name, f"{__name__}.FeedBackend")
    settings.MSPROC_EXECUTION_BACKEND = FeedBackend.name
    settings.MSPROC_TRANSFER_BACKEND = "noop"
    FeedBackend.finished, FeedBackend.silent, FeedBackend.broken, FeedBackend.by_request_id = {}, set(), False, False
    return FeedBackend


def running_campaign(groups: int, name: str = "feed") -> list[Job]:
    """A running campaign of one running step with ``groups`` running groups, one running job each (bulk)."""
    site = SiteFactory(code="FEEDSITE", is_hub=True)
    campaign = CampaignFactory(name=name, hub=site, status="running")
    step = StepFactory(campaign=campaign, stage=StageFactory(campaign=campaign), status="running")
    rows = Group.objects.bulk_create([Group(campaign=campaign, step=step, site=site, ordinal=i, status="running",
                                            attempts=1) for i in range(groups)])
    return Job.objects.bulk_create([
        Job(group=group, attempt=1, backend=FeedBackend.name, workflow_name=f"{name}-{group.ordinal}",
            run_collection=f"u/feed/{group.ordinal}", status="running",
            external_ids={"request_id": _request_id(f"{name}-{group.ordinal}")}) for group in rows])


def finish(jobs: list[Job], *, silently: bool = False) -> None:
    FeedBackend.finished.update({job.workflow_name: time.time() for job in jobs})
    if silently:
        FeedBackend.silent.update(job.workflow_name for job in jobs)


@pytest.mark.parametrize("groups", [100, 1000])
def test_a_tick_with_nothing_changed_takes_the_same_queries_for_100_or_1000_running_groups(
        groups, feed, django_assert_num_queries):
    running_campaign(groups)
    reconcile()  # the first poll of this backend: every job, in full
    with django_assert_num_queries(QUIET_TICK_QUERIES):
        report = reconcile()
    assert report.jobs_polled == min(groups, orchestration.POLL_SWEEP)  # the sweep only
    assert report.jobs_finished == 0
    assert Job.objects.filter(status="running").count() == groups


def test_the_first_tick_polls_every_job_and_the_next_only_what_changed_and_the_sweep(feed, monkeypatch):
    monkeypatch.setattr(orchestration, "POLL_SWEEP", 10)
    jobs = running_campaign(200)
    report = reconcile()
    assert report.jobs_polled == 200  # never polled: the feed cannot tell
    assert Job.objects.filter(polled_at__isnull=False).count() == 10  # one sweep's worth stamped, not every job

    finish(jobs[150:153])
    report = reconcile()

    assert report.jobs_finished == 3
    assert report.jobs_polled == 3 + 10  # what the feed named and the sweep
    assert set(Job.objects.filter(status="accepted").values_list("pk", flat=True)) == {j.pk for j in jobs[150:153]}
    assert Group.objects.filter(status="accepted").count() == 3


def test_jobs_the_feed_names_by_an_external_id_are_polled(feed, monkeypatch):
    monkeypatch.setattr(orchestration, "POLL_SWEEP", 1)
    feed.by_request_id = True
    jobs = running_campaign(50)
    reconcile()
    finish([jobs[7], jobs[42]])
    report = reconcile()
    assert report.jobs_finished == 2
    assert set(Job.objects.filter(status="accepted").values_list("workflow_name", flat=True)) == {"feed-7", "feed-42"}


def test_a_change_the_feed_misses_is_found_by_the_sweep_within_ceil_n_over_the_sweep_ticks(feed, monkeypatch):
    sweep = 7
    monkeypatch.setattr(orchestration, "POLL_SWEEP", sweep)
    jobs = running_campaign(60)
    reconcile()
    finish([jobs[-1]], silently=True)
    ticks = 0
    while Job.objects.get(pk=jobs[-1].pk).status == "running":
        reconcile()
        ticks += 1
        assert ticks <= math.ceil(len(jobs) / sweep), "the sweep never reached the job"
    assert Job.objects.filter(status="running").count() == len(jobs) - 1


def test_a_failing_feed_makes_the_tick_poll_every_job_and_is_recorded(feed, monkeypatch):
    monkeypatch.setattr(orchestration, "POLL_SWEEP", 5)
    jobs = running_campaign(40)
    reconcile()
    finish(jobs[:20], silently=True)  # the feed would not have told
    feed.broken = True

    report = poll_jobs()

    assert report.jobs_polled == 40 and report.jobs_finished == 20
    health = BackendHealth.objects.get(kind="execution", backend=FeedBackend.name)
    assert (health.operation, health.failures) == ("poll", 1)
    feed.broken = False
    finish(jobs[20:22])
    report = poll_jobs()
    assert (report.jobs_polled, report.jobs_finished) == (2 + 5, 2)  # back to the feed and the sweep


def test_a_feed_that_cannot_tell_makes_the_tick_poll_every_job(feed, monkeypatch):
    monkeypatch.setattr(orchestration, "POLL_SWEEP", 5)
    jobs = running_campaign(30)
    reconcile()
    finish(jobs[:4], silently=True)
    monkeypatch.setattr(FeedBackend, "changed", lambda self, since: None)
    report = poll_jobs()
    assert (report.jobs_polled, report.jobs_finished) == (30, 4)


def test_each_campaign_is_finished_when_its_last_changed_group_is_accepted(feed):
    jobs = running_campaign(5, name="small")
    reconcile()
    finish(jobs)
    report = reconcile()
    assert report.jobs_finished == 5 and report.steps_finished == 1 and report.campaigns_finished == 1
    assert Campaign.objects.get(name="small").status == "accepted"


def test_finished_jobs_a_fault_kept_from_being_recorded_are_polled_again_next_tick(feed, monkeypatch):
    monkeypatch.setattr(orchestration, "POLL_SWEEP", 2)
    monkeypatch.setattr(orchestration, "FEED_MARGIN", timedelta(0))  # the feed names only what changed since
    jobs = running_campaign(20, name="faulty")
    healthy = running_campaign(3, name="healthy")
    reconcile()
    Job.objects.update(polled_at=timezone.now() - timedelta(minutes=1))  # every job polled a minute ago
    finish([jobs[-1], healthy[0]])
    broken = jobs[-1].group_id
    with connection.cursor() as cursor:
        cursor.execute(f"""
            CREATE FUNCTION msproc_test_refuse() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION 'refused by the test'; END $$ LANGUAGE plpgsql;
            CREATE TRIGGER msproc_test_refuse BEFORE UPDATE ON campaigns_job FOR EACH ROW
                WHEN (NEW.status = 'accepted' AND NEW.group_id = {broken}) EXECUTE FUNCTION msproc_test_refuse();
        """)

    report = reconcile()

    assert "recording finished jobs" in report.faults[jobs[-1].group.campaign_id]
    assert Job.objects.get(pk=healthy[0].pk).status == "accepted"
    assert Job.objects.get(pk=jobs[-1].pk).status == "running"
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER msproc_test_refuse ON campaigns_job; DROP FUNCTION msproc_test_refuse();")

    report = reconcile()  # the feed no longer names it (its change is older than the last poll): the sweep does

    assert Job.objects.get(pk=jobs[-1].pk).status == "accepted"
    assert report.jobs_finished == 1
