"""Operator actions: 202 with the new state, 409 with the reason, bulk by filter with counts and one audit event."""

from __future__ import annotations

from campaigns.models import Group
from core.models import Event
from tests.factories import ErrorRuleFactory, GroupFactory, SiteFactory


def test_an_action_returns_202_and_the_new_state_and_records_the_comment(world, operator_client):
    response = operator_client.post(f"/api/v1/groups/{world.group.pk}/retry/", {"comment": "OOM fixed"},
                                    format="json")
    assert response.status_code == 202
    assert response.json()["status"] == "ready"
    assert response.json()["verb"] == "retry"
    event = Event.objects.filter(object_id=world.group.pk, verb="retry").get()
    assert event.comment == "OOM fixed"
    assert event.actor.username == "api-operator"


def test_an_illegal_transition_is_409_with_the_reason(world, operator_client):
    response = operator_client.post(f"/api/v1/campaigns/{world.campaign.pk}/resume/", format="json")
    assert response.status_code == 409
    body = response.json()
    assert body["current"] == "running"
    assert body["allowed"] == ["paused"]
    assert "cannot resume" in body["detail"]


def test_a_site_admin_drains_a_site(world, client_for):
    response = client_for("site admin").post(f"/api/v1/sites/{world.site.pk}/drain/")
    assert response.status_code == 202
    assert response.json()["status"] == "draining"


def test_bulk_retry_touches_only_what_the_filter_matches_and_leaves_one_audit_event(world, operator_client):
    lancs, ral = world.site, SiteFactory(code="RAL")
    oom, other = world.rule, ErrorRuleFactory()
    step = world.step
    matching = [world.group, *GroupFactory.create_batch(2, step=step, site=lancs, status="failed", error_rule=oom)]
    GroupFactory(step=step, site=ral, status="failed", error_rule=oom)
    GroupFactory(step=step, site=lancs, status="failed", error_rule=other)
    GroupFactory(step=step, site=lancs, status="running", error_rule=oom)

    response = operator_client.post(
        f"/api/v1/groups/bulk/retry/?status=failed&site=LANCS&error_rule={oom.pk}", {"comment": "new memory"},
        format="json",
    )

    assert response.status_code == 202
    assert response.json() == {"verb": "retry", "matched": 3, "touched": 3, "refused": []}
    assert set(Group.objects.filter(status="ready").values_list("pk", flat=True)) == {g.pk for g in matching}
    audit = Event.objects.get(verb="bulk_retry")
    assert audit.actor.username == "api-operator"
    assert "3 of 3" in audit.comment and "new memory" in audit.comment


def test_bulk_counts_the_objects_whose_state_refuses(world, operator_client):
    running = GroupFactory(step=world.step, site=world.site, status="running")
    response = operator_client.post("/api/v1/groups/bulk/retry/?site=LANCS")
    assert response.json()["matched"] == 2
    assert response.json()["touched"] == 1
    assert response.json()["refused"] == [{"id": running.pk, "status": "running"}]


def test_bulk_on_unmatched_groups(world, operator_client):
    unmatched = GroupFactory(step=world.step, site=world.site, status="failed")
    response = operator_client.post("/api/v1/groups/bulk/reject/?status=failed&error_rule=unmatched")
    assert response.json()["touched"] == 1
    unmatched.refresh_from_db()
    assert unmatched.status == "rejected"


def test_bulk_without_a_filter_is_refused(world, operator_client):
    response = operator_client.post("/api/v1/groups/bulk/retry/")
    assert response.status_code == 400
    assert Group.objects.get(pk=world.group.pk).status == "failed"


def test_bulk_with_an_unknown_verb_is_400(world, operator_client):
    assert operator_client.post("/api/v1/groups/bulk/start/?status=failed").status_code == 400


def test_bulk_with_an_invalid_filter_is_400(world, operator_client):
    assert operator_client.post("/api/v1/groups/bulk/retry/?site=NOWHERE").status_code == 400
    assert operator_client.post("/api/v1/groups/bulk/retry/?error_rule=everything").status_code == 400
