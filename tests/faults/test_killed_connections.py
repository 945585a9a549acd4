"""Database connections killed inside a transaction (a tick, a submission, a movement): the campaign completes,
nothing is duplicated or lost.

Deterministic: a hook on the connection (``execute_wrapper``) terminates the connection's own server
process (``pg_terminate_backend`` from a second connection) right before a chosen statement runs inside
a transaction, so that statement fails, the transaction is lost server-side, and the caller sees the
``OperationalError`` a worker would. The test then does what a worker's next task does: a fresh
connection, and the reconciler's next ticks.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from campaigns import orchestration
from campaigns.backends import base as backends
from campaigns.backends.noop import NoopExecutionBackend
from campaigns.models import Campaign, Job
from campaigns.orchestration import reconcile
from campaigns.services import create_campaign_from_spec
from core.models import Event
from sites.services import load_sites
from transfers import orchestration as transfer_orchestration
from transfers.models import Movement
from transfers.services import advance_movement

from .conftest import assert_complete_and_nothing_duplicated as complete

TEMPLATES = Path(__file__).resolve().parents[2] / "planning" / "templates"

pytestmark = pytest.mark.django_db(transaction=True)


class CountingBackend(NoopExecutionBackend):
    """Remembers every submission it got (a real backend finds a second one by workflow name)."""

    name = "counting"
    submitted: list[str] = []

    def submit(self, submission):
        CountingBackend.submitted.append(submission.workflow_name)
        return super().submit(submission)


@pytest.fixture
def campaign(settings, monkeypatch):
    from msproc.celery import app

    settings.MSPROC_EXECUTION_BACKEND = "counting"
    settings.MSPROC_TRANSFER_BACKEND = "noop"
    backends.register("counting", f"{__name__}.CountingBackend")
    CountingBackend.submitted = []
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True  # a task's error reaches the test, as a worker's log would show it
    # Work whose message was lost is sent again after REQUEUE_AFTER; the test does not wait 30 s for it.
    monkeypatch.setattr(orchestration, "REQUEUE_AFTER", timedelta(0))
    monkeypatch.setattr(transfer_orchestration, "REQUEUE_AFTER", timedelta(0))
    load_sites()
    campaign = create_campaign_from_spec(None, (TEMPLATES / "2x2.yaml").read_text())
    campaign.start()
    yield campaign
    app.conf.task_always_eager = False
    app.conf.task_eager_propagates = False


class Killer:
    """Terminate this connection's server process right before the first statement matching ``pattern``
    that runs inside a transaction (once)."""

    def __init__(self, pattern: str) -> None:
        self.pattern = re.compile(pattern, re.IGNORECASE | re.DOTALL)
        self.fired = False

    def __call__(self, execute, sql, params, many, context):
        if not self.fired and connection.in_atomic_block and self.pattern.search(sql):
            self.fired = True
            pid = connection.connection.info.backend_pid
            settings_dict = connection.settings_dict
            with psycopg.connect(host=settings_dict["HOST"] or "127.0.0.1", port=settings_dict["PORT"] or 5432,
                                 user=settings_dict["USER"] or "postgres", dbname=settings_dict["NAME"],
                                 autocommit=True) as other:
                other.execute("SELECT pg_terminate_backend(%s)", [pid])
        return execute(sql, params, many, context)


def run_with_killer(pattern: str, call):
    """Run ``call`` with the killer armed; return the killer (it must have fired and the call failed)."""
    killer = Killer(pattern)
    with connection.execute_wrapper(killer), pytest.raises(OperationalError):
        call()
    assert killer.fired
    connection.close()  # what the next task of a worker gets: a new connection (Celery's Django fix-up)
    return killer


def run_to_the_end(campaign: Campaign, limit: int = 80) -> None:
    for _ in range(limit):
        reconcile()
        campaign.refresh_from_db()
        if campaign.status != "running":
            break
        # Leases of work whose worker lost its connection expire (MSPROC_LEASE_SECONDS) without waiting.
        Movement.objects.filter(status__in=["registering", "ingesting"]).update(
            heartbeat_at=timezone.now() - timedelta(hours=1))


def assert_complete_and_nothing_duplicated(campaign: Campaign) -> None:
    complete(campaign)
    jobs = Job.objects.filter(group__campaign=campaign)
    assert set(CountingBackend.submitted) == set(jobs.values_list("workflow_name", flat=True))


def test_a_connection_killed_inside_a_ticks_transaction_loses_nothing(campaign):
    # Inside _prepare_batch: groups moved to prepared, their Job rows being inserted. The batch rolls back
    # whole; the tick's fault isolation redoes it campaign by campaign on a new connection (Django reconnects
    # once the failed transaction is closed), so the same tick prepares every group exactly once.
    killer = Killer(r'^INSERT INTO "campaigns_job"')
    with connection.execute_wrapper(killer):
        reconcile()
    assert killer.fired
    jobs = Job.objects.filter(group__campaign=campaign)
    assert jobs.exists(), "the batch was redone in the same tick"
    assert jobs.count() == jobs.values("group").distinct().count(), "one job per group"
    campaign.refresh_from_db()
    assert not campaign.tick_error, "a lost connection is not the campaign's fault"
    run_to_the_end(campaign)
    assert_complete_and_nothing_duplicated(campaign)


def test_a_connection_killed_while_a_submission_is_recorded_loses_nothing(campaign):
    # The backend took the jobs; recording them (prepared -> running) dies with the connection.
    run_with_killer(r'UPDATE "campaigns_job" AS t SET "status"', reconcile)
    assert CountingBackend.submitted, "the backend had the submissions when the connection died"
    assert Job.objects.filter(status="prepared").exists()
    assert not Job.objects.exclude(holder="").exists(), "the lease was released on a new connection"
    run_to_the_end(campaign)
    assert_complete_and_nothing_duplicated(campaign)


def test_a_connection_killed_inside_a_movements_transaction_loses_nothing(campaign):
    movement = Movement.objects.filter(campaign=campaign, kind="setup").first()
    movement.make_ready()
    # registering -> transferring after the backend started the transfer.
    run_with_killer(r'UPDATE "transfers_movement" SET "status".*"external_ids"',
                    lambda: advance_movement(movement.pk))
    movement.refresh_from_db()
    assert (movement.status, movement.attempts, movement.holder) == ("registering", 1, "")
    run_to_the_end(campaign)
    assert_complete_and_nothing_duplicated(campaign)
    takeover = Event.objects.get(content_type__model="movement", object_id=movement.pk, verb="take_over")
    assert takeover.comment.startswith("taken over: the previous attempt stopped without finishing")
