"""A held attempt (e.g. held at PanDA) blocks its group; released, the group runs on."""

from __future__ import annotations

from campaigns.backends import JobStatus
from campaigns.backends import base as backends
from campaigns.backends.noop import NoopExecutionBackend
from campaigns.models import Group, Job
from campaigns.orchestration import poll_jobs, reconcile

from .test_reconciler import campaign, noop  # noqa: F401  (fixtures)


class HoldingBackend(NoopExecutionBackend):
    name = "holding"
    state = "held"

    def poll(self, jobs):
        return {job.workflow_name: JobStatus(state=HoldingBackend.state) for job in jobs}


def test_a_held_job_blocks_its_group_until_released(campaign, noop, django_capture_on_commit_callbacks):  # noqa: F811
    backends.register("holding", f"{__name__}.HoldingBackend")
    noop.MSPROC_EXECUTION_BACKEND = "holding"
    HoldingBackend.state = "held"
    with django_capture_on_commit_callbacks(execute=True):
        reconcile()  # prepares and (on commit) submits
    poll_jobs()
    job = Job.objects.filter(status="blocked").first()
    assert job is not None
    assert Group.objects.get(pk=job.group_id).status == "blocked"
    HoldingBackend.state = "running"
    poll_jobs()
    job.refresh_from_db()
    assert job.status == "running"
    assert Group.objects.get(pk=job.group_id).status == "running"


def test_a_held_job_that_finishes_is_accepted(campaign, noop, django_capture_on_commit_callbacks):  # noqa: F811
    backends.register("holding", f"{__name__}.HoldingBackend")
    noop.MSPROC_EXECUTION_BACKEND = "holding"
    HoldingBackend.state = "held"
    with django_capture_on_commit_callbacks(execute=True):
        reconcile()
    poll_jobs()
    job = Job.objects.filter(status="blocked").first()
    HoldingBackend.state = "succeeded"
    poll_jobs()
    job.refresh_from_db()
    assert job.status == "accepted"
    assert Group.objects.get(pk=job.group_id).status == "accepted"
