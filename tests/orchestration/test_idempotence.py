"""Tasks delivered twice do nothing the second time; work a dead worker left behind is recovered once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.backends import base as backends
from campaigns.backends.noop import NoopExecutionBackend
from campaigns.models import Job
from campaigns.orchestration import reconcile, submit_job
from core.models import Event
from transfers.models import Movement
from transfers.services import advance_movement

from .test_reconciler import campaign, noop  # noqa: F401  (fixtures)


class CountingBackend(NoopExecutionBackend):
    name = "counting"
    submitted: list[str] = []

    def submit(self, submission):
        CountingBackend.submitted.append(submission.workflow_name)
        return super().submit(submission)


@pytest.fixture
def counting(noop):  # noqa: F811
    backends.register("counting", f"{__name__}.CountingBackend")
    CountingBackend.submitted = []
    noop.MSPROC_EXECUTION_BACKEND = "counting"
    yield CountingBackend


def _prepared_job(campaign, django_capture_on_commit_callbacks) -> Job:  # noqa: F811
    from msproc.celery import app

    app.conf.task_always_eager = False  # keep the submissions queued: the test delivers them itself
    with django_capture_on_commit_callbacks(execute=False):
        reconcile()
    return Job.objects.filter(status="prepared").first()


def test_a_submission_delivered_twice_submits_once(campaign, counting, django_capture_on_commit_callbacks):  # noqa: F811
    job = _prepared_job(campaign, django_capture_on_commit_callbacks)
    assert submit_job(job.pk) == "running"
    assert submit_job(job.pk) == "running"
    assert counting.submitted == [job.workflow_name]
    assert Event.objects.filter(verb="start", object_id=job.pk, content_type__model="job").count() == 1


def test_a_lost_submission_is_sent_again_by_the_reconciler(campaign, counting,  # noqa: F811
                                                           django_capture_on_commit_callbacks):
    job = _prepared_job(campaign, django_capture_on_commit_callbacks)
    Job.objects.filter(pk=job.pk).update(status_changed_at=timezone.now() - timedelta(minutes=5))
    from msproc.celery import app

    app.conf.task_always_eager = True
    with django_capture_on_commit_callbacks(execute=True):
        report = reconcile()
    assert job.pk in report.requeued_jobs
    assert counting.submitted.count(job.workflow_name) == 1
    job.refresh_from_db()
    assert job.status in {"running", "accepted"}


def test_a_movement_delivered_twice_moves_once(campaign):  # noqa: F811
    movement = Movement.objects.filter(campaign=campaign, kind="setup").first()
    movement.make_ready()
    assert advance_movement(movement.pk) == "done"
    assert advance_movement(movement.pk) == "done"
    assert Event.objects.filter(verb="start_registering", object_id=movement.pk).count() == 1


def test_a_movement_left_mid_way_by_a_dead_worker_is_taken_over_once(campaign, settings,  # noqa: F811
                                                                    django_capture_on_commit_callbacks):
    movement = Movement.objects.filter(campaign=campaign, kind="setup").first()
    movement.make_ready()
    movement.start_registering()  # the worker died right after this
    assert advance_movement(movement.pk) == "registering", "inside its lease nobody else touches it"
    Movement.objects.filter(pk=movement.pk).update(
        status_changed_at=timezone.now() - timedelta(seconds=settings.MSPROC_MOVEMENT_LEASE_SECONDS + 1))
    with django_capture_on_commit_callbacks(execute=True):
        report = reconcile()
    assert movement.pk in report.requeued_movements
    movement.refresh_from_db()
    assert movement.status == "done"
    assert movement.attempts == 1
    assert Event.objects.filter(verb="finish", object_id=movement.pk).count() == 1
