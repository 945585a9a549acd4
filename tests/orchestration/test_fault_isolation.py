"""Fault isolation: one campaign whose part of the tick fails never stops the others.

The faults are real database errors: a Job row already holding the workflow name a campaign's
next attempt needs (IntegrityError, issue 13's example), and PostgreSQL triggers that refuse
one campaign's step or job updates (errors in other parts of the tick).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connection
from django.urls import reverse

from campaigns.models import Campaign, Group, Job
from campaigns.orchestration import reconcile
from campaigns.services import create_campaign_from_spec
from campaigns.submission import workflow_name
from core.models import Event
from sites.services import load_sites
from tests.factories import CampaignFactory, GroupFactory, JobFactory

from .test_reconciler import noop  # noqa: F401  (fixture)

TEMPLATES = Path(__file__).resolve().parents[2] / "planning" / "templates"


@pytest.fixture
def two_campaigns(db, noop):  # noqa: F811
    """Two running 2x2 campaigns with their setup movements done: the next tick prepares their step1 groups."""
    load_sites()
    spec = (TEMPLATES / "2x2.yaml").read_text()
    campaigns = [create_campaign_from_spec(name, f"{spec}\noutput_prefix: u/msproc/{name}\n")
                 for name in ("fault-a", "fault-b")]
    for campaign in campaigns:
        campaign.movements.filter(before_step__order=1).update(status="done")
        campaign.start()
    return campaigns


def _tick(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return reconcile()


def _refuse_updates(table: str, condition: str, name: str) -> None:
    """A trigger that makes PostgreSQL refuse every UPDATE of ``table`` rows matching ``condition`` (on NEW)."""
    with connection.cursor() as cursor:
        cursor.execute(f"""
            CREATE FUNCTION {name}() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION '{name}: refused by the test'; END $$ LANGUAGE plpgsql;
            CREATE TRIGGER {name} BEFORE UPDATE ON {table} FOR EACH ROW WHEN ({condition}) EXECUTE FUNCTION {name}();
        """)


def _drop(table: str, name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER {name} ON {table}; DROP FUNCTION {name}();")


def test_it_submits_an_unrelated_campaigns_jobs_when_another_campaigns_job_row_clashes(
        two_campaigns, django_capture_on_commit_callbacks, client, staff_user):
    broken, healthy = two_campaigns
    first = Group.objects.filter(campaign=broken).order_by("step__order", "ordinal").first()
    # Another campaign's job already holds the workflow name of the broken campaign's first attempt.
    other = CampaignFactory(hub=broken.hub)  # not running: only its job row matters
    clash = JobFactory(group=GroupFactory(step__stage__campaign=other), workflow_name=workflow_name(first, 1),
                       status="accepted")

    report = _tick(django_capture_on_commit_callbacks)

    assert set(report.faults) == {broken.pk}
    assert "IntegrityError" in report.faults[broken.pk]
    assert Job.objects.filter(group__campaign=healthy).exists()
    assert set(Job.objects.filter(group__campaign=healthy).values_list("status", flat=True)) == {"running"}
    assert not Job.objects.filter(group__campaign=broken).exists()
    broken.refresh_from_db()
    assert broken.status == "running" and "IntegrityError" in broken.tick_error and broken.tick_error_at
    assert Event.objects.filter(campaign=broken, verb="tick_failed").count() == 1
    healthy.refresh_from_db()
    assert healthy.tick_error == ""

    # Shown on the campaign's page and on the home page.
    client.force_login(staff_user)
    assert "The reconciler fails on this campaign" in client.get(
        reverse("campaigns:campaign", args=[broken.pk])).content.decode()
    assert "reconciler fails on it" in client.get(reverse("home")).content.decode()
    assert "The reconciler fails" not in client.get(
        reverse("campaigns:campaign", args=[healthy.pk])).content.decode()

    # The same failure on the next tick is not a second event; the healthy campaign goes on.
    _tick(django_capture_on_commit_callbacks)
    assert Event.objects.filter(campaign=broken, verb="tick_failed").count() == 1

    # Once the clash is gone the campaign is handled again and the record cleared.
    clash.delete()
    report = _tick(django_capture_on_commit_callbacks)
    assert report.faults == {}
    broken.refresh_from_db()
    assert broken.tick_error == "" and broken.tick_error_at is None
    assert Event.objects.filter(campaign=broken, verb="tick_recovered").count() == 1
    assert Job.objects.filter(group__campaign=broken).exists()


def test_it_starts_and_submits_other_campaigns_when_one_campaigns_steps_cannot_be_updated(
        two_campaigns, django_capture_on_commit_callbacks):
    broken, healthy = two_campaigns
    _refuse_updates("campaigns_step", f"NEW.campaign_id = {broken.pk}", "msproc_test_refuse_steps")

    report = _tick(django_capture_on_commit_callbacks)

    assert "starting steps" in report.faults[broken.pk]
    assert set(report.faults) == {broken.pk}
    assert healthy.steps.filter(status="running").exists()
    assert set(Job.objects.filter(group__campaign=healthy).values_list("status", flat=True)) == {"running"}
    assert not broken.steps.exclude(status="waiting").exists(), "its part was rolled back as a whole"
    assert Campaign.objects.get(pk=broken.pk).tick_error.startswith("starting steps")
    _drop("campaigns_step", "msproc_test_refuse_steps")


def test_it_accepts_other_campaigns_jobs_when_one_campaigns_finished_jobs_cannot_be_recorded(
        two_campaigns, django_capture_on_commit_callbacks):
    broken, healthy = two_campaigns
    _tick(django_capture_on_commit_callbacks)  # both prepared and submitted (the no-op backend runs them)
    assert Job.objects.filter(group__campaign=broken, status="running").exists()
    groups = ", ".join(str(pk) for pk in broken.groups.values_list("pk", flat=True))
    _refuse_updates("campaigns_job", f"NEW.status = 'accepted' AND NEW.group_id IN ({groups})",
                    "msproc_test_refuse_jobs")

    report = _tick(django_capture_on_commit_callbacks)

    assert "recording finished jobs" in report.faults[broken.pk]
    assert not Job.objects.filter(group__campaign=healthy, status="running").exists()
    assert Job.objects.filter(group__campaign=healthy, status="accepted").exists()
    assert not Job.objects.filter(group__campaign=broken, status="accepted").exists()
    _drop("campaigns_job", "msproc_test_refuse_jobs")
