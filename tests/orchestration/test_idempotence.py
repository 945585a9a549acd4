"""Tasks delivered twice do nothing the second time; work a dead worker left behind is recovered once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.backends import base as backends
from campaigns.backends.noop import NoopExecutionBackend
from campaigns.models import Job
from campaigns.orchestration import reconcile
from campaigns.submission import submit_job
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
    movement.start_registering(holder="worker-1.example.org:4242:abcdef")  # the worker died right after this
    assert advance_movement(movement.pk) == "registering", "inside its lease nobody else touches it"
    with django_capture_on_commit_callbacks(execute=True):
        assert movement.pk not in reconcile().requeued_movements
    Movement.objects.filter(pk=movement.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=settings.MSPROC_LEASE_SECONDS + 1))
    with django_capture_on_commit_callbacks(execute=True):
        report = reconcile()
    assert movement.pk in report.requeued_movements
    movement.refresh_from_db()
    assert movement.status == "done"
    assert movement.attempts == 1
    assert movement.holder == ""
    assert Event.objects.filter(verb="finish", object_id=movement.pk).count() == 1
    takeover = Event.objects.get(verb="take_over", object_id=movement.pk, content_type__model="movement")
    assert takeover.comment.startswith("taken over after its worker died (worker worker-1.example.org:4242")
    assert (takeover.from_status, takeover.to_status) == ("registering", "registering")


def test_a_movement_whose_worker_still_renews_its_lease_is_left_alone(campaign, settings):  # noqa: F811
    movement = Movement.objects.filter(campaign=campaign, kind="setup").first()
    movement.make_ready()
    movement.start_registering(holder="worker-2:1:abcdef")
    # Registering for an hour, but its worker renewed the lease a second ago: slow, not dead.
    Movement.objects.filter(pk=movement.pk).update(status_changed_at=timezone.now() - timedelta(hours=1),
                                                   heartbeat_at=timezone.now() - timedelta(seconds=1))
    assert advance_movement(movement.pk) == "registering"
    assert not Event.objects.filter(verb="take_over", object_id=movement.pk).exists()


def test_a_submission_left_by_a_dead_worker_is_taken_over_and_submitted_once(campaign, counting, settings,  # noqa: F811
                                                                            django_capture_on_commit_callbacks):
    job = _prepared_job(campaign, django_capture_on_commit_callbacks)
    old = timezone.now() - timedelta(minutes=5)
    Job.objects.filter(pk=job.pk).update(holder="worker-3:77:abcdef", heartbeat_at=timezone.now(),
                                         status_changed_at=old)
    with django_capture_on_commit_callbacks(execute=False):
        assert job.pk not in reconcile().requeued_jobs, "its worker is alive: no second submission"
    assert submit_job(job.pk) == "prepared"
    assert counting.submitted == []
    Job.objects.filter(pk=job.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=settings.MSPROC_LEASE_SECONDS + 1))
    from msproc.celery import app

    app.conf.task_always_eager = True
    with django_capture_on_commit_callbacks(execute=True):
        assert job.pk in reconcile().requeued_jobs
    assert counting.submitted == [job.workflow_name]
    job.refresh_from_db()
    assert job.status in {"running", "accepted"} and job.holder == ""
    takeover = Event.objects.get(verb="take_over", object_id=job.pk, content_type__model="job")
    assert "taken over after its worker died (worker worker-3:77" in takeover.comment
