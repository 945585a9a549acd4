"""A step that can never finish says so: a running step without groups goes to reviewable with its reason, shown
on its page and on the home page, instead of sitting in running for ever."""

from __future__ import annotations

from django.urls import reverse

from campaigns.orchestration import NO_GROUPS, reconcile
from core.models import Event
from tests.factories import CampaignFactory, GroupFactory, StageFactory, StepFactory


def _campaign_with_an_empty_step():
    campaign = CampaignFactory(status="running")
    stage = StageFactory(campaign=campaign)
    empty = StepFactory(campaign=campaign, stage=stage, name="step2a", status="running")
    busy = StepFactory(campaign=campaign, stage=stage, name="step1", order=0, status="running")
    GroupFactory(campaign=campaign, step=busy, status="running")
    return campaign, empty, busy


def test_a_running_step_without_groups_waits_for_an_operator_with_its_reason(db):
    campaign, empty, busy = _campaign_with_an_empty_step()
    reconcile()
    empty.refresh_from_db()
    busy.refresh_from_db()
    campaign.refresh_from_db()
    assert (empty.status, busy.status, campaign.status) == ("reviewable", "running", "running")
    assert Event.objects.get(verb="review", object_id=empty.pk, content_type__model="step").comment == NO_GROUPS
    reconcile()  # said once, not once per tick
    assert Event.objects.filter(verb="review", object_id=empty.pk, content_type__model="step").count() == 1


def test_the_home_page_and_the_step_page_show_the_stuck_step(db, viewer_client):
    campaign, empty, _ = _campaign_with_an_empty_step()
    reconcile()
    home = viewer_client.get(reverse("home")).content.decode()
    assert f"step {empty.name}" in home and "stuck: no group, it matches no data" in home
    assert campaign.name in home
    page = viewer_client.get(reverse("campaigns:step", kwargs={"pk": empty.pk})).content.decode()
    assert "reviewable" in page and "it matches no data" in page


def test_an_operator_can_accept_the_empty_step_and_the_campaign_goes_on(db):
    campaign, empty, busy = _campaign_with_an_empty_step()
    reconcile()
    empty.refresh_from_db()
    empty.force_accept(comment="nothing to do here")
    reconcile()
    empty.refresh_from_db()
    assert empty.status == "accepted"
