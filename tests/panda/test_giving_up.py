"""Giving up on an attempt that lives at PanDA aborts its workflow there (through the plugin's cancel)."""

from __future__ import annotations

import pytest

from campaigns.backends import BackendError
from campaigns.choices import Status
from campaigns.models import Group, Job
from campaigns.submission import cancel_job
from core.actions import perform
from core.models import Event
from tests.factories import GroupFactory

from .test_orchestration import _panda_registered, make_job  # noqa: F401  (autouse fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _tasks_run_eagerly():
    """The cancel task runs in this process when its on-commit callback fires (a worker would run it)."""
    from msproc.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def request_status(panda, job: Job) -> str:
    return panda.requests[job.external_ids["request_id"]].status


def held_job(panda, tmp_path, name: str) -> Job:
    request_id = panda.add_request(name, status="Suspended")
    return make_job(Status.BLOCKED, tmp_path, workflow_name=name, external_ids={"request_id": request_id})


@pytest.mark.parametrize("verb", ["retry", "force_accept", "reject"])
def test_an_operator_giving_up_on_a_held_attempt_aborts_it_at_panda(panda, tmp_path, verb,
                                                                   django_capture_on_commit_callbacks):
    job = held_job(panda, tmp_path, f"held-{verb}")

    with django_capture_on_commit_callbacks(execute=True):
        perform(job.group, verb, comment="PanDA queue drained")

    job.refresh_from_db()
    assert job.status == Status.REJECTED
    assert request_status(panda, job) == "Cancelled"
    assert panda.relay_calls("abort") == ["abort"]
    assert Event.objects.get(verb="reject", object_id=job.pk, content_type__model="job").comment == (
        f"group {verb}: PanDA queue drained")


def test_rejecting_a_running_group_aborts_its_workflow(panda, tmp_path, django_capture_on_commit_callbacks):
    request_id = panda.add_request("running-wf")
    job = make_job(Status.RUNNING, tmp_path, workflow_name="running-wf", external_ids={"request_id": request_id})

    with django_capture_on_commit_callbacks(execute=True):
        perform(job.group, "reject")

    job.refresh_from_db()
    job.group.refresh_from_db()
    assert (job.status, job.group.status, request_status(panda, job)) == (Status.REJECTED, Status.REJECTED,
                                                                          "Cancelled")


def test_rejecting_a_campaign_aborts_its_live_attempts_and_rejects_its_unfinished_groups(
        panda, tmp_path, django_capture_on_commit_callbacks):
    request_id = panda.add_request("campaign-wf")
    job = make_job(Status.RUNNING, tmp_path, workflow_name="campaign-wf", external_ids={"request_id": request_id})
    campaign = job.group.campaign
    waiting = GroupFactory(step=job.group.step, site=job.group.site, status=Status.WAITING)
    done = GroupFactory(step=job.group.step, site=job.group.site, status=Status.ACCEPTED)

    with django_capture_on_commit_callbacks(execute=True):
        perform(campaign, "reject", comment="wrong calibrations")

    assert request_status(panda, job) == "Cancelled"
    assert dict(Group.objects.filter(campaign=campaign).values_list("pk", "status")) == {
        job.group_id: Status.REJECTED, waiting.pk: Status.REJECTED, done.pk: Status.ACCEPTED}
    assert Job.objects.get(pk=job.pk).status == Status.REJECTED


def test_a_refused_transition_cancels_nothing(panda, tmp_path, django_capture_on_commit_callbacks):
    job = held_job(panda, tmp_path, "held-refused")

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(Exception, match="rescue"):
        perform(job.group, "rescue")  # a blocked group cannot be rescued

    job.refresh_from_db()
    assert job.status == Status.BLOCKED and request_status(panda, job) == "Suspended"
    assert panda.relay_calls("abort") == []


def test_a_cancel_while_panda_is_down_is_retried_and_the_job_stays_rejected(panda, tmp_path,
                                                                            django_capture_on_commit_callbacks):
    job = held_job(panda, tmp_path, "held-outage")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        perform(job.group, "reject")
    assert len(callbacks) == 1  # the cancel task, enqueued on commit
    panda.make_unreachable()
    try:
        with pytest.raises(BackendError) as raised:
            cancel_job(job.pk)
        assert not raised.value.permanent  # the Celery task retries it
    finally:
        panda.make_reachable()
    assert request_status(panda, job) == "Suspended"
    from sites.models import BackendHealth

    assert BackendHealth.objects.get(kind="execution", backend="panda").operation == "cancel"

    cancel_job(job.pk)
    cancel_job(job.pk)  # a second delivery is harmless

    assert request_status(panda, job) == "Cancelled"
    assert Job.objects.get(pk=job.pk).status == Status.REJECTED


def test_cancel_job_leaves_a_job_that_is_not_rejected_alone(panda, tmp_path):
    request_id = panda.add_request("still-running")
    job = make_job(Status.RUNNING, tmp_path, workflow_name="still-running", external_ids={"request_id": request_id})

    cancel_job(job.pk)

    assert request_status(panda, job) == "Transforming" and panda.relay_calls("abort") == []


def test_a_cancel_panda_refuses_while_it_answers_is_not_retried(panda, tmp_path, monkeypatch):
    job = held_job(panda, tmp_path, "held-refusal")
    Job.objects.filter(pk=job.pk).update(status=Status.REJECTED)
    monkeypatch.setattr(panda, "_cmd_abort", lambda **kw: (_ for _ in ()).throw(ValueError("request is locked")))

    cancel_job(job.pk)  # logged, not raised: asking again would not help

    assert panda.relay_calls("ping") == ["ping"]


def test_a_job_given_up_before_its_request_id_was_recorded_is_found_by_name(panda, tmp_path):
    request_id = panda.add_request("in-flight-wf")  # PanDA took it; msproc had not recorded the id yet
    job = make_job(Status.REJECTED, tmp_path, workflow_name="in-flight-wf", external_ids={})

    cancel_job(job.pk)

    assert panda.requests[request_id].status == "Cancelled"
    assert panda.relay_calls() == ["get_request_id_by_name", "abort"]
