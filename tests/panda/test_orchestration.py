"""PanDA through the orchestration: an outage leaves jobs as they were; outcomes are applied when it answers."""

from __future__ import annotations

import pytest

from campaigns.backends import BackendError, register
from campaigns.choices import Status
from campaigns.models import Job
from campaigns.orchestration import poll_jobs, submit_job
from tests.factories import CampaignFactory, GroupFactory, JobFactory, SiteFactory, StepFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _panda_registered():
    register("panda", "campaigns.backends.panda.PandaExecutionBackend")  # until base._REGISTRY lists it


def make_job(status: str, tmp_path, **kw) -> Job:
    site = SiteFactory(code="SLAC", compute_site="SLAC", compute_cloud="US", queue_prefix="SLAC",
                       execution_backend="panda")
    campaign = CampaignFactory(status=Status.RUNNING, hub=site)
    step = StepFactory(campaign=campaign, stage__campaign=campaign, status=Status.RUNNING, name="step1")
    group = GroupFactory(step=step, site=site, status=status)
    return JobFactory(group=group, backend="panda", status=status, submit_dir=str(tmp_path / "job"), **kw)


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
    assert job.external_ids == ids

    request = panda.requests[request_id]
    tasks = [panda._add_task(request, f"late-tasks-wf_{n:02d}_{label}_01", 1)
             for n, label in enumerate(("pipetaskInit", "isr", "finalJob"), start=1)]
    poll_jobs()
    job.refresh_from_db()
    assert job.external_ids == {**ids, "task_ids": sorted(task.workload_id for task in tasks)}
    assert job.status == Status.RUNNING
