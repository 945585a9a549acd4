"""Orchestration cost does not grow with the number of groups: query counts are pinned for 10 and 200 groups.

One wide step split by visit (``max_size: 1``) over N visits across the four sites, with the no-op
backends, as ``bench/orchestration_scale.py`` runs it at 1,000 to 100,000 groups (docs/benchmarks.md).
Up to ``BATCH`` rows per kind of move a tick's query count is a constant; beyond, it grows by a few
queries per further batch (so memory stays flat).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from django.contrib.contenttypes.models import ContentType

from campaigns.backends import JobStatus
from campaigns.backends import base as backends
from campaigns.backends.noop import NoopExecutionBackend
from campaigns.models import Campaign, Group, Job, Step
from campaigns.orchestration import BATCH, SUBMIT_BATCH, reconcile
from campaigns.progress import SUMMARY_QUERIES, campaign_summary
from campaigns.services import create_campaign_from_spec
from campaigns.submission import submit_jobs
from core.models import Event
from planning.inventory import TableInventory
from sites.services import load_sites
from transfers.models import Movement

from .test_reconciler import noop  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db
SIZES = [10, 200]
# Pinned query counts (see the module docstring); a change here is a change in how orchestration scales.
# Both ticks include the fault isolation: a savepoint around each campaign's two parts (4 queries) and the
# look-up of campaigns whose failure record is to be cleared (1); the polling tick one more savepoint
# around recording the finished jobs. Both read the running and reviewable steps with two index probes each
# (has it groups, has it an open group) in one query (1); a step with no open group left has its groups
# counted (1, the polling tick). Before the probes, finishing steps took 3 queries: 40 and 48.
PREPARING_TICK_QUERIES = 38  # start the step, make N groups ready, prepare N jobs, finish nothing yet
POLLING_TICK_QUERIES = 47  # poll N jobs and the transferring movements, accept jobs, groups, step, campaign
SUBMIT_QUERIES = 22  # submit a batch: take its lease (6, with the release), read the jobs, context, move to running
TRACTS = {9469: "SLAC", 9470: "SLAC", 9948: "IN2P3", 9949: "IN2P3", 9941: "LANCS", 9942: "LANCS", 1: "RAL", 2: "RAL"}


def wide_step_spec(name: str) -> str:
    tract_map = "\n".join(f"  {tract}: {site}" for tract, site in TRACTS.items())
    return f"""\
name: {name}
pipeline: mock:drp
hub: SLAC
sites: [SLAC, IN2P3, LANCS, RAL]
tract_map:
{tract_map}
inputs: {{collections: [MockCam/raw/all, MockCam/defaults], dataset_types: [raw]}}
defaults:
  - {{dataset_types: [bias, flat, refcat, fgcm_lookup_table], collections: [MockCam/defaults]}}
stages:
  - {{name: stage1, steps: [step1]}}
steps:
  - {{name: step1, split: {{by: visit, max_size: 1}}, memory_mb: 4000}}
"""


def wide_campaign(groups: int, tmp_path: Path) -> Campaign:
    """A started campaign of one step with ``groups`` groups across the four sites, its inputs already staged."""
    load_sites()
    tmp_path.mkdir(parents=True, exist_ok=True)
    inventory = tmp_path / "visits.csv"
    tracts = list(TRACTS)
    with inventory.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["visit", "exposure", "band", "tract"])
        writer.writerows([visit, visit, "gri"[visit % 3], tracts[visit % len(tracts)]]
                         for visit in range(1, groups + 1))
    campaign = create_campaign_from_spec(f"wide-{groups}", wide_step_spec(f"wide-{groups}"),
                                         inventory=TableInventory(inventory))
    assert campaign.groups.count() == groups
    assert {site for site, in campaign.groups.values_list("site__code").distinct()} == set(TRACTS.values())
    Movement.objects.filter(campaign=campaign).update(status="done")  # staged: what is measured is the groups
    campaign.start()
    # Content types are cached per process: look them all up now so counts do not depend on test order.
    ContentType.objects.clear_cache()
    ContentType.objects.get_for_models(Campaign, Step, Group, Job, Movement)
    return campaign


@pytest.mark.parametrize("groups", SIZES)
def test_a_tick_preparing_every_group_takes_the_same_queries_for_10_or_200(
        groups, noop, tmp_path, django_assert_num_queries, django_capture_on_commit_callbacks):  # noqa: F811
    assert groups <= BATCH
    campaign = wide_campaign(groups, tmp_path)
    with django_capture_on_commit_callbacks(execute=False) as submissions:
        with django_assert_num_queries(PREPARING_TICK_QUERIES):
            report = reconcile()
    assert len(report.jobs_prepared) == groups
    assert len(submissions) == 1, "one on-commit callback per prepared batch"
    assert set(Group.objects.filter(campaign=campaign).values_list("status", flat=True)) == {"prepared"}


@pytest.mark.parametrize("groups", SIZES)
def test_a_tick_over_every_running_group_takes_the_same_queries_for_10_or_200(
        groups, noop, tmp_path, django_assert_num_queries, django_capture_on_commit_callbacks):  # noqa: F811
    campaign = wide_campaign(groups, tmp_path)
    with django_capture_on_commit_callbacks(execute=True):
        reconcile()  # prepares every group; the (eager) submissions start every job
    assert set(Job.objects.filter(group__campaign=campaign).values_list("status", flat=True)) == {"running"}
    events = Event.objects.count()
    with django_assert_num_queries(POLLING_TICK_QUERIES):
        report = reconcile()
    assert report.jobs_finished == groups
    campaign.refresh_from_db()
    assert campaign.status == "accepted"
    # Every transition left its Event: each job and group accepted, the step and the campaign.
    assert Event.objects.count() - events == 2 * groups + 2


@pytest.mark.parametrize("groups", [10, SUBMIT_BATCH])
def test_submitting_a_batch_takes_the_same_queries_for_10_or_a_full_batch(
        groups, noop, tmp_path, django_assert_num_queries, django_capture_on_commit_callbacks):  # noqa: F811
    wide_campaign(groups, tmp_path)
    with django_capture_on_commit_callbacks(execute=False):
        report = reconcile()
    with django_assert_num_queries(SUBMIT_QUERIES):
        statuses = submit_jobs(report.jobs_prepared)
    assert set(statuses.values()) == {"running"}
    assert Job.objects.filter(pk__in=report.jobs_prepared, bps_yaml__contains="payloadName").count() == groups


@pytest.mark.parametrize("groups", SIZES)
def test_the_campaign_summary_takes_the_same_queries_for_10_or_200(
        groups, noop, tmp_path, django_assert_num_queries, django_capture_on_commit_callbacks):  # noqa: F811
    campaign = wide_campaign(groups, tmp_path)
    with django_capture_on_commit_callbacks(execute=True):
        reconcile()
    with django_assert_num_queries(SUMMARY_QUERIES):
        summary = campaign_summary(campaign.pk)
    assert summary["groups"]["total"] == groups
    assert summary["groups"]["by_status"] == {"running": groups}
    assert summary["groups"]["attempts"] == groups
    assert sum(site["groups"]["total"] for site in summary["sites"]) == groups
    assert [site["code"] for site in summary["sites"]] == sorted(set(TRACTS.values()))
    assert summary["steps"][0]["groups"]["active"] == groups
    assert summary["movements"]["by_status"] == {"done": 6}


def test_the_summary_endpoint_takes_the_same_queries_for_10_or_200(
        noop, tmp_path, django_assert_num_queries, staff_user, client):  # noqa: F811
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(staff_user)
    counts = []
    for groups in SIZES:
        campaign = wide_campaign(groups, tmp_path / str(groups))
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"/api/v1/campaigns/{campaign.pk}/summary/", secure=True)
        assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]
    assert response.json()["groups"]["total"] == SIZES[-1]


class CountingQuantaBackend(NoopExecutionBackend):
    """Finishes every job with its own quanta counts (from its group ordinal)."""

    name = "counting-quanta"
    submitted: list[str] = []

    def submit(self, submission):
        CountingQuantaBackend.submitted.append(submission.workflow_name)
        return {"noop": submission.workflow_name, "n": len(CountingQuantaBackend.submitted)}

    def poll(self, jobs):
        statuses = {}
        for job in jobs:
            ordinal = int(job.workflow_name.split("-g")[1].split("-")[0])
            statuses[job.workflow_name] = JobStatus(state="succeeded", expected=ordinal + 1, succeeded=ordinal + 1,
                                                    log_tail=f"ordinal {ordinal}", log_path=f"/logs/{ordinal}")
        return statuses


def test_each_job_keeps_its_own_quanta_counts_and_ids_when_moved_in_bulk(
        noop, tmp_path, django_capture_on_commit_callbacks):  # noqa: F811
    backends.register("counting-quanta", f"{__name__}.CountingQuantaBackend")
    CountingQuantaBackend.submitted = []
    noop.MSPROC_EXECUTION_BACKEND = "counting-quanta"
    campaign = wide_campaign(30, tmp_path)
    with django_capture_on_commit_callbacks(execute=True):
        reconcile()
    reconcile()
    campaign.refresh_from_db()
    assert campaign.status == "accepted"
    for job in Job.objects.filter(group__campaign=campaign).select_related("group"):
        ordinal = job.group.ordinal
        assert (job.quanta_expected, job.quanta_succeeded, job.quanta_failed) == (ordinal + 1, ordinal + 1, 0)
        assert (job.log_tail, job.log_path) == (f"ordinal {ordinal}", f"/logs/{ordinal}")
        assert job.external_ids["noop"] == job.workflow_name
        assert job.submitted_at is not None and job.finished_at is not None


def test_a_batch_delivered_twice_submits_each_job_once(
        noop, tmp_path, django_capture_on_commit_callbacks):  # noqa: F811
    backends.register("counting-quanta", f"{__name__}.CountingQuantaBackend")
    CountingQuantaBackend.submitted = []
    noop.MSPROC_EXECUTION_BACKEND = "counting-quanta"
    wide_campaign(12, tmp_path)
    with django_capture_on_commit_callbacks(execute=False):
        report = reconcile()
    first = submit_jobs(report.jobs_prepared)
    second = submit_jobs(report.jobs_prepared)
    assert first == second == {pk: "running" for pk in report.jobs_prepared}
    assert len(CountingQuantaBackend.submitted) == 12
    assert Event.objects.filter(verb="start", content_type__model="job").count() == 12
    assert Event.objects.filter(verb="start", content_type__model="group").count() == 12
