"""The reconciler drives a whole campaign: steps start in order, movements gate groups, failures follow rules.

These run with the no-op execution and transfer backends, so orchestration itself is what is tested.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from campaigns.models import Campaign, ErrorRule, Group, Job
from campaigns.orchestration import reconcile
from campaigns.services import create_campaign_from_spec
from core.models import Event
from sites.services import load_sites
from transfers.models import Movement

TEMPLATES = Path(__file__).resolve().parents[2] / "planning" / "templates"


@pytest.fixture
def noop(settings):
    settings.MSPROC_EXECUTION_BACKEND = "noop"
    settings.MSPROC_TRANSFER_BACKEND = "noop"
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from msproc.celery import app

    app.conf.task_always_eager = True
    yield settings
    app.conf.task_always_eager = False


@pytest.fixture
def campaign(db, noop):
    load_sites()
    campaign = create_campaign_from_spec(None, (TEMPLATES / "2x2.yaml").read_text())
    campaign.start()
    return campaign


def run_ticks(django_capture_on_commit_callbacks, campaign: Campaign, limit: int = 60) -> int:
    for tick in range(1, limit + 1):
        with django_capture_on_commit_callbacks(execute=True):
            reconcile()
        campaign.refresh_from_db()
        if campaign.status != "running":
            return tick
    return limit


def test_a_campaign_runs_to_accepted(campaign, django_capture_on_commit_callbacks):
    ticks = run_ticks(django_capture_on_commit_callbacks, campaign)
    assert campaign.status == "accepted", ticks
    assert set(Group.objects.filter(campaign=campaign).values_list("status", flat=True)) == {"accepted"}
    assert set(Movement.objects.filter(campaign=campaign).values_list("status", flat=True)) == {"done"}
    assert Job.objects.filter(group__campaign=campaign).count() == Group.objects.filter(campaign=campaign).count()


def test_a_group_waits_for_the_movements_to_its_site(campaign, django_capture_on_commit_callbacks):
    first = campaign.steps.order_by("order").first()
    setup = Movement.objects.filter(campaign=campaign, before_step=first).exclude(destination=campaign.hub)
    assert setup.exists()
    site = setup.first().destination
    # Hold the setup movements to that site: its groups cannot become ready, the hub's can.
    setup.filter(destination=site).update(status="stuck")
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            reconcile()
    groups = Group.objects.filter(step=first)
    assert set(groups.filter(site=site).values_list("status", flat=True)) == {"waiting"}
    assert groups.filter(site=campaign.hub, status="accepted").exists()


def test_a_failure_matching_a_retry_rule_is_retried(campaign, noop, django_capture_on_commit_callbacks):
    ErrorRule.objects.create(name="noop", pattern="noop: injected failure", action="retry", max_retries=1)
    noop.MSPROC_NOOP_FAIL = r"-step1-g1-a1$"
    run_ticks(django_capture_on_commit_callbacks, campaign)
    group = Group.objects.get(step__campaign=campaign, step__name="step1", ordinal=1)
    assert list(group.jobs.values_list("attempt", "status")) == [(1, "failed"), (2, "accepted")]
    assert group.auto_retries == 1
    assert campaign.status == "accepted"
    assert Event.objects.filter(verb="retry", object_id=group.pk, comment__contains="error rule noop").exists()


def test_a_failure_without_a_rule_waits_for_an_operator(campaign, noop, django_capture_on_commit_callbacks):
    noop.MSPROC_NOOP_FAIL = r"-step1-g1-a"
    run_ticks(django_capture_on_commit_callbacks, campaign, limit=15)
    group = Group.objects.get(step__campaign=campaign, step__name="step1", ordinal=1)
    assert group.status == "failed"
    assert group.step.status == "reviewable"
    assert campaign.status == "running"
    noop.MSPROC_NOOP_FAIL = None
    group.retry(comment="operator: fixed")
    run_ticks(django_capture_on_commit_callbacks, campaign)
    assert campaign.status == "accepted"


def test_a_second_tick_with_nothing_new_moves_nothing(campaign, django_capture_on_commit_callbacks):
    run_ticks(django_capture_on_commit_callbacks, campaign)
    events = Event.objects.count()
    reconcile()
    assert Event.objects.count() == events
