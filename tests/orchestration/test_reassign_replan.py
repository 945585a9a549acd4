"""Reassigning a site after it made outputs: re-planned from what exists where, in either mode (issue 14)."""

from __future__ import annotations

import pytest
import yaml
from django.utils import timezone

from campaigns.models import Group, Step
from campaigns.orchestration import reconcile
from campaigns.services import ReassignError, create_campaign_from_spec, reassign_site_groups
from core.models import Event
from sites.models import Site
from sites.services import load_sites
from tests.orchestration.test_reconciler import TEMPLATES, run_ticks
from transfers.models import Movement
from transfers.orchestration import REQUEUE_AFTER

RAL_VISITS = [13, 14, 15, 16]  # the synthetic survey's visits of tracts 1 and 2


def spec_3x2() -> str:
    document = yaml.safe_load((TEMPLATES / "2x4.yaml").read_text())
    document["name"] = "mock-3x2"
    document["output_prefix"] = "u/msproc/mock-3x2"
    document["sites"] = ["SLAC", "IN2P3", "RAL"]
    document["tract_map"] = {9469: "SLAC", 9470: "SLAC", 9948: "IN2P3", 9949: "IN2P3", 1: "RAL", 2: "RAL"}
    return yaml.safe_dump(document, sort_keys=False)


@pytest.fixture
def campaign_3x2(db, settings):
    settings.MSPROC_EXECUTION_BACKEND = "noop"
    settings.MSPROC_TRANSFER_BACKEND = "noop"
    settings.MSPROC_INVENTORY_FILE = None
    from msproc.celery import app

    app.conf.task_always_eager = True
    load_sites()
    campaign = create_campaign_from_spec(None, spec_3x2())
    campaign.start()
    yield campaign
    app.conf.task_always_eager = False


def tick_until(capture, predicate, limit: int = 40) -> None:
    for _ in range(limit):
        if predicate():
            return
        with capture(execute=True):
            reconcile()
    assert predicate(), "the condition never held"


def ral_step1_accepted(campaign) -> bool:
    groups = Group.objects.filter(campaign=campaign, site__code="RAL", step__name="step1")
    return groups.exists() and not groups.exclude(status="accepted").exists()


@pytest.fixture
def ral_lost_after_step1(campaign_3x2, django_capture_on_commit_callbacks):
    """RAL's step1 is accepted; RAL goes offline before anything downstream of it ran there."""
    tick_until(django_capture_on_commit_callbacks, lambda: ral_step1_accepted(campaign_3x2))
    ral = Site.objects.get(code="RAL")
    ral.take_offline(comment="power cut")
    assert not Group.objects.filter(campaign=campaign_3x2, site=ral, status__in=["prepared", "running"]).exists()
    return campaign_3x2


def test_wait_mode_moves_the_lost_sites_outputs_once_it_is_back(ral_lost_after_step1,
                                                                 django_capture_on_commit_callbacks):
    campaign = ral_lost_after_step1
    ral, in2p3 = Site.objects.get(code="RAL"), Site.objects.get(code="IN2P3")
    result = reassign_site_groups(campaign, ral, in2p3, mode="wait", comment="RAL down")
    assert result["waits_for"] == ["RAL"] and result["groups_remade"] == 0
    # step2a at IN2P3 now reads RAL's step1 outputs: one exchange from RAL, before step2a.
    (exchange,) = Movement.objects.filter(campaign=campaign, kind="exchange", sources__code="RAL",
                                          destination=in2p3, before_step__name="step2a")
    assert sorted(exchange.data_ids["visit"]) == RAL_VISITS
    assert list(exchange.dataset_types.values_list("name", flat=True)) == ["single_visit_star"]
    # RAL is still down: the reassigned step2a groups wait, however long we tick.
    run_ticks(django_capture_on_commit_callbacks, campaign, limit=10)
    moved = Group.objects.filter(campaign=campaign, site=in2p3, step__name="step2a", data_ids__visit__contains=[13])
    assert moved.get().status == "waiting"
    ral.bring_online(comment="back")
    # The movements from RAL waited in ready; the tick re-enqueues them once REQUEUE_AFTER has passed.
    Movement.objects.filter(campaign=campaign, status="ready").update(
        status_changed_at=timezone.now() - REQUEUE_AFTER * 2)
    run_ticks(django_capture_on_commit_callbacks, campaign, limit=80)
    assert campaign.status == "accepted"
    exchange.refresh_from_db()
    assert exchange.status == "done"


def test_remake_mode_makes_the_lost_sites_outputs_again_at_the_new_site(ral_lost_after_step1,
                                                                        django_capture_on_commit_callbacks):
    campaign = ral_lost_after_step1
    ral, in2p3 = Site.objects.get(code="RAL"), Site.objects.get(code="IN2P3")
    before = Group.objects.filter(campaign=campaign, step__name="step1").count()
    result = reassign_site_groups(campaign, ral, in2p3, mode="remake")
    assert result["waits_for"] == [] and result["groups_remade"] == 1
    assert result["remade"][0]["step"] == "step1" and result["remade"][0]["visits"] == len(RAL_VISITS)
    remade = Group.objects.get(campaign=campaign, step__name="step1", site=in2p3, ordinal__gt=before)
    assert remade.status == "waiting" and sorted(remade.data_ids["visit"]) == RAL_VISITS
    assert Step.objects.get(campaign=campaign, name="step1").status == "running"
    assert Event.objects.filter(verb="remake", object_id=remade.pk).exists()
    # IN2P3 gets RAL's raws for the remake; nothing moves from RAL.
    raws = Movement.objects.filter(campaign=campaign, kind="setup", destination=in2p3, dataset_types__name="raw")
    assert RAL_VISITS[0] * 1 in {int(e) for m in raws for e in m.data_ids["exposure"]} or raws.count() == 2
    assert not Movement.objects.filter(campaign=campaign, sources__code="RAL").exclude(
        status__in=["done", "cancelled"]).exists()
    # The step2a group for RAL's visits waits for the remade step1 group at IN2P3, then the campaign finishes.
    with django_capture_on_commit_callbacks(execute=True):
        reconcile()
    step2a = Group.objects.get(campaign=campaign, site=in2p3, step__name="step2a", data_ids__visit__contains=[13])
    assert step2a.status in ("waiting", "ready") and not step2a.jobs.exists()
    run_ticks(django_capture_on_commit_callbacks, campaign, limit=80)
    assert campaign.status == "accepted"
    remade.refresh_from_db()
    step2a.refresh_from_db()
    first = remade.jobs.get().created
    assert step2a.jobs.get().created > first


def test_a_preview_says_what_it_costs_and_changes_nothing(ral_lost_after_step1):
    campaign = ral_lost_after_step1
    ral, in2p3 = Site.objects.get(code="RAL"), Site.objects.get(code="IN2P3")
    groups = sorted(Group.objects.filter(campaign=campaign).values_list("pk", "site__code", "status"))
    movements = sorted(Movement.objects.filter(campaign=campaign).values_list("key", "status"))
    wait = reassign_site_groups(campaign, ral, in2p3, mode="wait", preview=True)
    remake = reassign_site_groups(campaign, ral, in2p3, mode="remake", preview=True)
    assert wait["groups"] == remake["groups"] > 0
    # RAL's step1 made single_visit_star (read by step2a) and pvi (read by step2d): both come from RAL.
    assert [(m["key"], m["dataset_types"], m["expected_count"]) for m in wait["added"] if m["kind"] == "exchange"] == [
        ("exchange:RAL>IN2P3:step2a", ["single_visit_star"], 4), ("exchange:RAL>IN2P3:step2d", ["pvi"], 4)]
    assert remake["remade"] and not [m for m in remake["added"] if "RAL" in m["sources"]]
    assert sorted(Group.objects.filter(campaign=campaign).values_list("pk", "site__code", "status")) == groups
    assert sorted(Movement.objects.filter(campaign=campaign).values_list("key", "status")) == movements


def test_an_in_flight_movement_is_widened_by_a_supplement(ral_lost_after_step1):
    campaign = ral_lost_after_step1
    ral, in2p3 = Site.objects.get(code="RAL"), Site.objects.get(code="IN2P3")
    # The fan-out of fgcm_photo_calib to IN2P3 is transferring when RAL's visits become IN2P3's.
    fan_out = Movement.objects.get(campaign=campaign, kind="fan_out", destination=in2p3)
    Movement.objects.filter(pk=fan_out.pk).update(status="transferring")
    reassign_site_groups(campaign, ral, in2p3, mode="wait")
    supplement = Movement.objects.get(campaign=campaign, key=f"{fan_out.key}+reassigned")
    assert sorted(supplement.data_ids["visit"]) == RAL_VISITS
    assert supplement.before_step.name == "step2d" and supplement.expected_count == len(RAL_VISITS)
    fan_out.refresh_from_db()
    assert fan_out.status == "transferring" and 13 not in fan_out.data_ids["visit"]


@pytest.mark.parametrize(("to_code", "mode", "message"), [
    ("LANCS", "wait", "to_site: LANCS takes no part in campaign mock-3x2"),
    ("IN2P3", "sometime", "mode: must be one of remake, wait"),
])
def test_it_refuses_what_it_cannot_do_with_a_reason(ral_lost_after_step1, to_code, mode, message):
    campaign = ral_lost_after_step1
    with pytest.raises(ReassignError, match=message):
        reassign_site_groups(campaign, Site.objects.get(code="RAL"), Site.objects.get(code=to_code), mode=mode)


def test_it_refuses_a_site_with_groups_still_running(campaign_3x2):
    ral = Site.objects.get(code="RAL")
    Group.objects.filter(campaign=campaign_3x2, site=ral, step__name="step1").update(status="running")
    ral.take_offline()
    with pytest.raises(ReassignError, match="from_site: 1 group.* still running at RAL"):
        reassign_site_groups(campaign_3x2, ral, Site.objects.get(code="IN2P3"))


# ------------------------------------------------------------------------------------------------ REST API

@pytest.fixture
def operator_api(db):
    from tests.api.conftest import make_user, token_client

    return token_client(make_user("operator"))


def test_the_api_previews_then_reassigns(ral_lost_after_step1, operator_api):
    campaign = ral_lost_after_step1
    url = f"/api/v1/campaigns/{campaign.pk}/reassign/"
    preview = operator_api.post(url, {"from_site": "RAL", "to_site": "IN2P3", "mode": "wait", "preview": True},
                                format="json")
    assert preview.status_code == 200, preview.content
    assert preview.json()["waits_for"] == ["RAL"]
    assert Group.objects.filter(campaign=campaign, site__code="RAL", status="waiting").exists()
    done = operator_api.post(url, {"from_site": "RAL", "to_site": "IN2P3", "mode": "remake", "comment": "API"},
                             format="json")
    assert done.status_code == 200, done.content
    assert done.json()["groups_remade"] == 1
    assert not Group.objects.filter(campaign=campaign, site__code="RAL").exclude(status="accepted").exists()
    assert Event.objects.filter(verb="reassign", comment__contains="RAL -> IN2P3: API").exists()


def test_the_api_refuses_a_site_outside_the_campaign_with_the_field(ral_lost_after_step1, operator_api):
    response = operator_api.post(f"/api/v1/campaigns/{ral_lost_after_step1.pk}/reassign/",
                                 {"from_site": "RAL", "to_site": "LANCS"}, format="json")
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["path"] == "to_site" and "takes no part" in error["message"]
    bad = operator_api.post(f"/api/v1/campaigns/{ral_lost_after_step1.pk}/reassign/",
                            {"from_site": "RAL", "to_site": "NOWHERE", "mode": "later"}, format="json")
    assert bad.status_code == 400
    assert {e["path"] for e in bad.json()["errors"]} == {"to_site", "mode"}


def test_a_viewer_cannot_reassign(ral_lost_after_step1, db):
    from tests.api.conftest import make_user, token_client

    response = token_client(make_user("viewer")).post(
        f"/api/v1/campaigns/{ral_lost_after_step1.pk}/reassign/", {"from_site": "RAL", "to_site": "IN2P3"},
        format="json")
    assert response.status_code == 403
