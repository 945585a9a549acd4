"""An offline site's pending groups move to another site and the planner re-derives the movements."""

from __future__ import annotations

import pytest

from campaigns.models import Group
from campaigns.services import ReassignError, create_campaign_from_spec, reassign_site_groups
from core.models import Event
from sites.models import Site
from sites.services import load_sites
from tests.orchestration.test_reconciler import TEMPLATES, run_ticks
from transfers.models import Movement


@pytest.fixture
def campaign_2x4(db, settings):
    settings.MSPROC_EXECUTION_BACKEND = "noop"
    settings.MSPROC_TRANSFER_BACKEND = "noop"
    from msproc.celery import app

    app.conf.task_always_eager = True
    load_sites()
    campaign = create_campaign_from_spec(None, (TEMPLATES / "2x4.yaml").read_text())
    yield campaign
    app.conf.task_always_eager = False


def test_reassigning_an_offline_sites_groups_lets_the_campaign_finish(campaign_2x4,
                                                                      django_capture_on_commit_callbacks):
    lancs, ral = Site.objects.get(code="LANCS"), Site.objects.get(code="RAL")
    lancs.take_offline(comment="downtime")
    campaign_2x4.start()
    pending = Group.objects.filter(campaign=campaign_2x4, site=lancs).count()
    counts = reassign_site_groups(campaign_2x4, lancs, ral, comment="LANCS down for a week")
    assert counts["groups"] == pending > 0
    assert counts["movements_cancelled"] > 0
    assert not Group.objects.filter(campaign=campaign_2x4, site=lancs).exists()
    assert set(Movement.objects.filter(campaign=campaign_2x4, destination=lancs).values_list(
        "status", flat=True)) == {"cancelled"}
    # RAL now receives the raws of the visits LANCS would have processed.
    raws_to_ral = Movement.objects.get(campaign=campaign_2x4, kind="setup", destination=ral, dataset_types__name="raw")
    before = {site["code"]: set(site["visits"]) for site in campaign_2x4.plan["sites"]}  # the plan before
    assert set(raws_to_ral.data_ids["exposure"]) == before["RAL"] | before["LANCS"]  # exposure id == visit id
    assert Event.objects.filter(verb="reassign", comment__contains="LANCS -> RAL").count() == pending
    run_ticks(django_capture_on_commit_callbacks, campaign_2x4, limit=80)
    assert campaign_2x4.status == "accepted"


def test_reassigning_from_an_online_site_is_refused(campaign_2x4):
    lancs, ral = Site.objects.get(code="LANCS"), Site.objects.get(code="RAL")
    with pytest.raises(ReassignError, match="from_site: LANCS is online"):
        reassign_site_groups(campaign_2x4, lancs, ral)
    assert Group.objects.filter(campaign=campaign_2x4, site=lancs).exists()


def test_reassigning_to_an_offline_site_is_refused(campaign_2x4):
    lancs, ral = Site.objects.get(code="LANCS"), Site.objects.get(code="RAL")
    lancs.take_offline()
    ral.take_offline()
    with pytest.raises(ReassignError, match="to_site: RAL is offline"):
        reassign_site_groups(campaign_2x4, lancs, ral)



def test_a_campaign_whose_stored_spec_no_longer_plans_is_refused_and_left_as_it_was(campaign_2x4):
    lancs, ral = Site.objects.get(code="LANCS"), Site.objects.get(code="RAL")
    lancs.take_offline()
    # A spec stored before the split-by-level rule: step4 (per tract) split by visit.
    campaign_2x4.spec = campaign_2x4.spec.replace("- {name: step4, scope: wide, split: {by: tract, max_size: 2}",
                                                  "- {name: step4, scope: wide, split: {by: visit, max_size: 500}")
    campaign_2x4.save(update_fields=["spec"])
    before = sorted(Group.objects.filter(campaign=campaign_2x4).values_list("pk", "site__code"))

    with pytest.raises(ReassignError, match=r"campaigns: mock-2x4 cannot be re-planned .*split\.by: step4 runs per"):
        reassign_site_groups(campaign_2x4, lancs, ral)

    assert sorted(Group.objects.filter(campaign=campaign_2x4).values_list("pk", "site__code")) == before


def test_a_reassigned_campaign_keeps_its_own_name_and_collections(db, settings):
    settings.MSPROC_EXECUTION_BACKEND = "noop"
    settings.MSPROC_TRANSFER_BACKEND = "noop"
    load_sites()
    spec = (TEMPLATES / "2x4.yaml").read_text()
    create_campaign_from_spec(None, spec)  # the spec's own name and prefix are taken by another campaign
    campaign = create_campaign_from_spec("weekly-7", spec)
    lancs, ral = Site.objects.get(code="LANCS"), Site.objects.get(code="RAL")
    lancs.take_offline(comment="downtime")
    reassign_site_groups(campaign, lancs, ral)
    campaign.refresh_from_db()
    assert (campaign.plan["name"], campaign.plan["output_prefix"]) == ("weekly-7", "u/msproc/weekly-7")
    collections = {c for m in Movement.objects.filter(campaign=campaign) for c in m.collections if c.startswith("u/")}
    assert collections and all(c.startswith("u/msproc/weekly-7/") for c in collections)
