"""PanDA through the orchestration: an outage leaves jobs as they were; outcomes are applied when it answers."""

from __future__ import annotations

import time

import pytest

from campaigns import orchestration
from campaigns.backends import BackendError, get_execution_backend, register
from campaigns.choices import Status
from campaigns.models import Job
from campaigns.orchestration import poll_jobs
from campaigns.submission import submit_job
from tests.factories import CampaignFactory, GroupFactory, JobFactory, SiteFactory, StepFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _panda_registered():
    register("panda", "campaigns.backends.panda.backend.PandaExecutionBackend")  # until base._REGISTRY lists it


def make_job(status: str, tmp_path, **kw) -> Job:
    site = SiteFactory(code="SLAC", compute_site="SLAC", compute_cloud="US", queue_prefix="SLAC",
                       execution_backend="panda")
    campaign = CampaignFactory(status=Status.RUNNING, hub=site)
    step = StepFactory(campaign=campaign, stage__campaign=campaign, status=Status.RUNNING, name="step1")
    group = GroupFactory(step=step, site=site, status=status)
    return JobFactory(group=group, backend="panda", status=status, submit_dir=str(tmp_path / "campaigns" / "job"), **kw)


def test_a_submission_during_an_outage_stays_prepared(panda, tmp_path):
    job = make_job(Status.PREPARED, tmp_path, bps_yaml="pipelineYaml: mock.yaml#step1\n")
    panda.make_unreachable()
    try:
        with pytest.raises(BackendError) as raised:
            submit_job(job.pk)
        assert not raised.value.permanent  # the Celery task retries it
    finally:
        panda.make_reachable()
    job.refresh_from_db()
    assert job.status == Status.PREPARED
    from sites.models import BackendHealth

    health = BackendHealth.objects.get(kind="execution", backend="panda")
    assert (health.operation, health.failures) == ("submit", 1)


def test_a_poll_during_an_outage_changes_nothing_and_the_next_one_applies(panda, tmp_path):
    request_id = panda.add_request("orch-wf")
    job = make_job(Status.RUNNING, tmp_path, workflow_name="orch-wf", external_ids={"request_id": request_id})
    panda.finish_all(request_id)
    panda.make_unreachable()
    try:
        report = poll_jobs()
    finally:
        panda.make_reachable()
    job.refresh_from_db()
    assert (job.status, report.jobs_polled) == (Status.RUNNING, 0)
    from sites.services import failing_backends

    assert [(h.kind, h.backend, h.operation) for h in failing_backends()] == [("execution", "panda", "poll")]

    report = poll_jobs()
    job.refresh_from_db()
    assert job.status == Status.ACCEPTED
    assert (job.quanta_expected, job.quanta_succeeded) == (4, 4)


def test_task_ids_that_appear_after_the_submit_are_stored_by_the_next_poll(panda, tmp_path):
    request_id = panda.add_request("late-tasks-wf", labels=())  # submitted; iDDS has not made tasks yet
    ids = {"request_id": request_id, "workflow_name": "late-tasks-wf", "task_ids": []}
    job = make_job(Status.RUNNING, tmp_path, workflow_name="late-tasks-wf", external_ids=ids)

    poll_jobs()
    job.refresh_from_db()
    assert job.external_ids == {**ids, "polled_at": job.external_ids["polled_at"], "settling": False, "tasks": {}}

    request = panda.requests[request_id]
    tasks = [panda._add_task(request, f"late-tasks-wf_{n:02d}_{label}_01", 1)
             for n, label in enumerate(("pipetaskInit", "isr", "finalJob"), start=1)]
    poll_jobs()
    job.refresh_from_db()
    assert job.external_ids == {**ids, "task_ids": sorted(task.workload_id for task in tasks),
                                "polled_at": job.external_ids["polled_at"], "settling": False,
                                "tasks": {label: {"status": "Transforming", "expected": 1, "succeeded": 0, "failed": 0}
                                          for label in ("pipetaskInit", "isr", "finalJob")}}
    assert job.status == Status.RUNNING


# Pinned query counts of a PanDA polling tick (one batch): they must not grow with the number of jobs.
# Both: the backends of the sites (1) and the latest poll of PanDA's jobs (1), which the tick's change feed
# starts from (orchestration.poll_jobs).
# Never polled: no feed; read the running jobs (1); one UPDATE stores the requests' polled_at and task ids (1);
# one stamps the sweep's poll time (1). Before the tick had a change feed of its own: 2.
FULL_POLL_TICK_QUERIES = 5
# The feed names nothing: look up the settling requests' jobs (1; none), read the sweep's jobs (1), stamp their
# poll time (1), read the jobs of other backends (1). Before: 1 (reading every running job, which grows with
# their number past one batch).
QUIET_TICK_QUERIES = 6


@pytest.mark.parametrize("count", [2, 8])
def test_a_tick_stores_the_poll_time_and_a_quiet_tick_reads_only_the_sweep(panda, tmp_path, count,
                                                                           django_assert_num_queries):
    request_ids = [panda.add_request(f"feed-wf-{count}-{n}") for n in range(count)]
    jobs = [make_job(Status.RUNNING, tmp_path / str(n), workflow_name=f"feed-wf-{count}-{n}",
                     external_ids={"request_id": request_id, "task_ids": []})
            for n, request_id in enumerate(request_ids)]
    before = int(time.time())

    with django_assert_num_queries(FULL_POLL_TICK_QUERIES):
        report = poll_jobs()  # never polled: each request in full

    assert report.jobs_polled == count
    assert panda.feed_calls() == 0 and len(panda.relay_calls("get_requests")) == count
    for job, request_id in zip(jobs, request_ids, strict=True):
        job.refresh_from_db()
        assert job.external_ids["polled_at"] >= before and job.external_ids["settling"] is False
        assert job.external_ids["task_ids"] == [task.workload_id for task in panda.requests[request_id].tasks]
    panda.age(600)
    panda.reset_calls()

    with django_assert_num_queries(QUIET_TICK_QUERIES):
        report = poll_jobs()

    assert report.jobs_polled == count
    assert panda.feed_calls() == 1 and panda.relay_calls() == []

    stored = {job.pk: job.external_ids for job in Job.objects.filter(pk__in=[job.pk for job in jobs])}
    panda.finish_all(request_ids[0])
    panda.reset_calls()
    # A later tick: the last tick's feed answer is not reused (within a tick it is: the tick's change feed
    # and its polls share one call).
    get_execution_backend("panda")._feed_memo = None
    poll_jobs()
    assert panda.feed_calls() == 1 and panda.relay_calls() == ["get_requests"]
    finished, *others = Job.objects.filter(pk__in=[job.pk for job in jobs]).order_by("pk")
    assert finished.status == Status.ACCEPTED
    assert [(job.status, job.external_ids) for job in others] == [(Status.RUNNING, stored[job.pk]) for job in others]


def test_a_request_the_feed_shows_changed_is_polled_though_the_sweep_does_not_reach_it(panda, tmp_path,
                                                                                       monkeypatch):
    monkeypatch.setattr(orchestration, "POLL_SWEEP", 1)
    request_ids = [panda.add_request(f"swept-wf-{n}") for n in range(4)]
    jobs = [make_job(Status.RUNNING, tmp_path / str(n), workflow_name=f"swept-wf-{n}",
                     external_ids={"request_id": request_id, "task_ids": []})
            for n, request_id in enumerate(request_ids)]
    poll_jobs()  # never polled: every request in full
    panda.age(600)
    get_execution_backend("panda")._feed_memo = None  # a later tick
    panda.finish_all(request_ids[-1])  # the job the sweep reaches last
    panda.reset_calls()

    report = poll_jobs()

    assert report.jobs_finished == 1 and report.jobs_polled == 2  # the changed one and the sweep's one
    assert panda.feed_calls() == 1 and panda.relay_calls() == ["get_requests"]
    assert [job.status for job in Job.objects.filter(pk__in=[job.pk for job in jobs]).order_by("pk")] == [
        Status.RUNNING, Status.RUNNING, Status.RUNNING, Status.ACCEPTED]


def test_a_settling_request_is_polled_every_tick_though_the_sweep_does_not_reach_it(panda, tmp_path, monkeypatch):
    monkeypatch.setattr(orchestration, "POLL_SWEEP", 1)
    request_ids = [panda.add_request(f"settling-wf-{n}") for n in range(4)]
    jobs = [make_job(Status.RUNNING, tmp_path / str(n), workflow_name=f"settling-wf-{n}",
                     external_ids={"request_id": request_id, "task_ids": []})
            for n, request_id in enumerate(request_ids)]
    poll_jobs()  # never polled: every request in full
    settling = request_ids[-1]  # the job the sweep reaches last
    for label, total in (("pipetaskInit", 1), ("isr", 2), ("calibrateImage", 2), ("finalJob", 1)):
        panda.set_task(settling, label, "Finished", total=total, processed=total)
    get_execution_backend("panda")._feed_memo = None  # a later tick
    poll_jobs()  # the feed shows its tasks: polled, found settling
    assert Job.objects.get(pk=jobs[-1].pk).external_ids["settling"] is True

    panda.age(600)  # nothing in the feed from now on
    panda.requests[settling].status = "Finished"  # iDDS ends the request without touching any task
    get_execution_backend("panda")._feed_memo = None
    panda.reset_calls()
    report = poll_jobs()

    assert report.jobs_finished == 1
    assert Job.objects.get(pk=jobs[-1].pk).status == Status.ACCEPTED
    assert panda.relay_calls() == ["get_requests"]  # only the settling request in full
