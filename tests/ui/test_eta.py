"""Issue 17, item 5: progress and ETA per campaign and per site, from the durations of finished groups."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaigns.eta import estimate_campaigns
from tests.factories import CampaignFactory, GroupFactory, SiteFactory, StepFactory

pytestmark = pytest.mark.django_db


def running_campaign(n_waiting: int = 1):
    """A running campaign with, at its hub, two accepted groups (60 s and 120 s), one running and some waiting."""
    campaign = CampaignFactory(status="running", started_at=timezone.now() - timedelta(minutes=10))
    step = StepFactory(campaign=campaign, status="running")
    now = timezone.now()
    for seconds in (60, 120):
        GroupFactory(step=step, campaign=campaign, site=campaign.hub, status="accepted",
                     started_at=now - timedelta(seconds=seconds + 30), finished_at=now - timedelta(seconds=30))
    GroupFactory(step=step, campaign=campaign, site=campaign.hub, status="running", started_at=now)
    for _ in range(n_waiting):
        GroupFactory(step=step, campaign=campaign, site=campaign.hub, status="waiting")
    return campaign, step


def test_it_estimates_the_remaining_time_from_finished_groups_of_the_same_step():
    campaign, _ = running_campaign()
    estimate = estimate_campaigns([campaign.pk])[campaign.pk]
    overall = estimate.overall
    assert (overall.total, overall.done, overall.running, overall.remaining) == (4, 2, 1, 2)
    # two left, the mean of 60 s and 120 s each, one lane (one group running): 180 s, quartiles 75 s and 105 s
    assert (overall.seconds, overall.low, overall.high) == (180.0, 150.0, 210.0)
    assert overall.eta_low < overall.eta < overall.eta_high
    assert list(estimate.sites) == [campaign.hub.code] and estimate.sites[campaign.hub.code].seconds == 180.0


def test_a_step_without_finished_groups_borrows_the_campaigns_durations_and_sites_run_in_parallel():
    campaign, step = running_campaign(n_waiting=0)
    other = SiteFactory(code="FAR")
    later = StepFactory(campaign=campaign, order=2)
    for _ in range(3):
        GroupFactory(step=later, campaign=campaign, site=other, status="waiting")
    estimate = estimate_campaigns([campaign.pk])[campaign.pk]
    assert estimate.sites["FAR"].seconds == 3 * 90.0  # one lane: it has run nothing yet
    assert estimate.overall.seconds == max(e.seconds for e in estimate.sites.values())


def test_the_eta_is_unknown_until_a_group_finishes():
    campaign = CampaignFactory(status="running")
    GroupFactory(campaign=campaign, step=StepFactory(campaign=campaign), status="waiting")
    overall = estimate_campaigns([campaign.pk])[campaign.pk].overall
    assert overall.seconds is None and overall.eta is None and overall.remaining == 1


def test_the_home_and_campaign_pages_show_the_eta_of_a_running_campaign(viewer_client):
    campaign, _ = running_campaign()
    home = viewer_client.get(reverse("home")).content.decode()
    assert "ETA <strong>" in home and "3m 00s" in home and "2m 30s to 3m 30s" in home
    page = viewer_client.get(reverse("campaigns:campaign", args=[campaign.pk])).content.decode()
    assert "Progress and ETA per site" in page and "ETA <strong>" in page


def test_the_api_gives_the_eta_in_two_queries_whatever_the_size(viewer_client):
    campaign, step = running_campaign()
    url = f"/api/v1/campaigns/{campaign.pk}/eta/"
    viewer_client.get(url)
    with CaptureQueriesContext(connection) as few:
        body = viewer_client.get(url).json()
    assert body["remaining_seconds"] == 180.0 and body["eta"] and body["sites"][campaign.hub.code]["remaining"] == 2
    for _ in range(30):
        GroupFactory(step=step, campaign=campaign, site=campaign.hub, status="waiting")
    with CaptureQueriesContext(connection) as many:
        assert viewer_client.get(url).json()["remaining"] == 32
    assert len(many) == len(few)
