"""The shared filtersets through the API: q, status (several), site (by code), campaign, step, dates."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from tests.factories import CampaignFactory, GroupFactory, MovementFactory, SiteFactory, StepFactory


def ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def test_groups_filter_by_status_site_step_campaign_and_error_rule(world, viewer_client):
    ral = SiteFactory(code="RAL")
    other_step = StepFactory(campaign=world.campaign, stage=world.step.stage, name="step2a")
    at_ral = GroupFactory(step=world.step, site=ral, status="reviewable")
    waiting = GroupFactory(step=other_step, site=world.site)
    elsewhere = GroupFactory(status="failed")
    get = viewer_client.get
    assert ids(get("/api/v1/groups/?status=failed&status=reviewable")) == {world.group.pk, at_ral.pk, elsewhere.pk}
    assert ids(get("/api/v1/groups/?site=RAL&site=LANCS")) == {world.group.pk, at_ral.pk, waiting.pk}
    assert ids(get("/api/v1/groups/?step=step2a")) == {waiting.pk}
    assert ids(get(f"/api/v1/groups/?campaign={world.campaign.pk}&status=failed")) == {world.group.pk}
    assert ids(get(f"/api/v1/groups/?error_rule={world.rule.pk}")) == {world.group.pk}
    assert world.group.pk not in ids(get("/api/v1/groups/?error_rule=unmatched"))
    assert get("/api/v1/groups/?site=NOWHERE").status_code == 400
    assert get("/api/v1/groups/?status=bogus").status_code == 400


def test_q_searches_free_text(world, viewer_client):
    assert ids(viewer_client.get("/api/v1/groups/?q=memoryerror")) == {world.group.pk}
    assert ids(viewer_client.get("/api/v1/sites/?q=lanc")) == {world.site.pk}
    assert ids(viewer_client.get("/api/v1/groups/?q=nothing-like-this")) == set()


def test_date_ranges(world, viewer_client):
    old = CampaignFactory(created=timezone.now() - timedelta(days=30))
    cut = (timezone.now() - timedelta(days=1)).isoformat()
    assert ids(viewer_client.get("/api/v1/campaigns/", {"created_after": cut})) == {world.campaign.pk}
    assert ids(viewer_client.get("/api/v1/campaigns/", {"created_before": cut})) == {old.pk}
    assert viewer_client.get("/api/v1/campaigns/?created_after=2025-01-01").status_code == 200
    assert viewer_client.get("/api/v1/campaigns/?created_after=yesterday").status_code == 400


def test_movements_filter_by_source_or_destination_site(world, viewer_client):
    ral = SiteFactory(code="RAL")
    outgoing = MovementFactory(campaign=world.campaign)
    outgoing.sources.set([world.site])
    incoming = MovementFactory(campaign=world.campaign, destination=ral)
    assert ids(viewer_client.get("/api/v1/movements/?site=LANCS")) == {outgoing.pk}
    assert ids(viewer_client.get("/api/v1/movements/?destination=RAL")) == {incoming.pk}
    assert ids(viewer_client.get("/api/v1/movements/?status=failed")) == {world.movement.pk}


def test_ordering_and_page_size_bounds(world, viewer_client):
    GroupFactory.create_batch(3, step=world.step, site=world.site)
    response = viewer_client.get("/api/v1/groups/?ordering=-ordinal&page_size=2")
    ordinals = [row["ordinal"] for row in response.json()["results"]]
    assert len(ordinals) == 2 and ordinals == sorted(ordinals, reverse=True)
    assert response.json()["count"] == 4
    assert viewer_client.get("/api/v1/groups/?page_size=100000").status_code == 200
