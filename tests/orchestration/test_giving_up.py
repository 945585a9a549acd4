"""An attempt an operator gives up on is cancelled at its backend, even when its submission was on its way."""

from __future__ import annotations

import pytest

from campaigns.backends import base as backends
from campaigns.backends.noop import NoopExecutionBackend
from campaigns.models import Job
from campaigns.orchestration import reconcile
from campaigns.submission import submit_job
from core.actions import perform

from .test_reconciler import campaign, noop  # noqa: F401  (fixtures)


class RejectingBackend(NoopExecutionBackend):
    """Submits, but an operator rejects the group while the backend is taking the submission."""

    name = "rejecting"
    cancelled: list[tuple[str, dict]] = []

    def submit(self, submission):
        job = Job.objects.select_related("group").get(workflow_name=submission.workflow_name)
        perform(job.group, "reject", comment="wrong pipeline")
        return {"request_id": 4242}

    def cancel(self, job):
        RejectingBackend.cancelled.append((job.workflow_name, job.external_ids))


@pytest.fixture
def rejecting(noop):  # noqa: F811
    backends.register("rejecting", f"{__name__}.RejectingBackend")
    RejectingBackend.cancelled = []
    noop.MSPROC_EXECUTION_BACKEND = "rejecting"
    yield RejectingBackend


def test_a_job_rejected_while_its_submission_was_on_its_way_is_cancelled_there(
        campaign, rejecting, django_capture_on_commit_callbacks):  # noqa: F811
    from msproc.celery import app

    app.conf.task_always_eager = False
    with django_capture_on_commit_callbacks(execute=False):
        reconcile()
    job = Job.objects.filter(status="prepared").first()
    app.conf.task_always_eager = True

    with django_capture_on_commit_callbacks(execute=True):
        status = submit_job(job.pk)

    job.refresh_from_db()
    assert status == job.status == "rejected"
    assert job.external_ids == {"request_id": 4242}  # what the backend returned is kept ...
    # ... and cancelled there (the reject itself also asks the backend, which finds by name what it can).
    assert {name for name, _ in rejecting.cancelled} == {job.workflow_name}
    assert (job.workflow_name, {"request_id": 4242}) in rejecting.cancelled


@pytest.mark.django_db
def test_the_ready_groups_of_a_paused_or_rejected_step_are_not_submitted(noop, django_capture_on_commit_callbacks):  # noqa: F811
    from campaigns.orchestration import TickReport, _prepare_jobs
    from tests.factories import CampaignFactory, GroupFactory, StepFactory

    running_campaign = CampaignFactory(status="running")
    paused = StepFactory(campaign=running_campaign, stage__campaign=running_campaign, status="paused", name="step1")
    rejected = StepFactory(campaign=running_campaign, stage=paused.stage, status="rejected", name="step2a")
    running = StepFactory(campaign=running_campaign, stage=paused.stage, status="running", name="step2b")
    groups = {step.name: GroupFactory(campaign=running_campaign, step=step, status="ready")
              for step in (paused, rejected, running)}

    with django_capture_on_commit_callbacks(execute=False):
        _prepare_jobs(TickReport())

    assert {name: group.jobs.count() for name, group in groups.items()} == {"step1": 0, "step2a": 0, "step2b": 1}
    paused.resume()
    with django_capture_on_commit_callbacks(execute=False):
        _prepare_jobs(TickReport())
    assert groups["step1"].jobs.count() == 1
