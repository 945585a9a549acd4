"""Issue 14 end to end on the embedded default (real repositories, pipetask, Butler transfers, a real Celery worker).

1. A 2x2 campaign split by values (step4: g, r, i) and by query (step6: g and r only) runs to the end while a
   neighbour campaign with another output prefix and the other tract map runs on the same sites: both are
   accepted and each verifies clean without blaming the other; a dataset moved that the plan did not move is
   still caught.
3. A 2x2 campaign whose IN2P3 goes offline after its step1 is accepted: its groups are reassigned to SLAC with
   its outputs made again there, and the campaign finishes and verifies clean.
"""

from __future__ import annotations

import pytest
import yaml

from campaigns.models import Campaign, Group, Step
from campaigns.services import create_campaign_from_spec, reassign_site_groups
from campaigns.verification import verify_campaign
from sites.models import ButlerRepo, Site
from sites.services import load_sites, setup_local_sites
from tests.e2e.test_embedded_campaign import SPEC, TIMEOUT, Worker, _purge_broker, _wait
from transfers.models import Movement

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def data_dir(tmp_path, settings):
    settings.DATA_DIR = tmp_path
    settings.MSPROC_SITES_DIR = tmp_path / "sites"
    settings.MSPROC_TAPE_DIR = tmp_path / "tape"
    settings.MSPROC_EXECUTION_BACKEND = None
    settings.MSPROC_TRANSFER_BACKEND = None
    return tmp_path


def spec(name: str, **changes) -> str:
    document = yaml.safe_load(SPEC)
    document["name"] = name
    document["output_prefix"] = f"u/msproc/{name}"
    document.update(changes)
    return yaml.safe_dump(document, sort_keys=False)


def finished(*campaigns: Campaign) -> bool:
    return all(Campaign.objects.get(pk=c.pk).status in ("accepted", "failed", "rejected") for c in campaigns)


def run_with_worker(data_dir, until, what: str) -> None:
    worker = Worker(data_dir)
    _purge_broker(worker.env["CELERY_BROKER_URL"])
    worker.start()
    try:
        _wait(until, TIMEOUT, what)
    finally:
        worker.stop()


def test_split_groups_and_a_neighbour_campaign_verify_clean(data_dir):
    load_sites()
    setup_local_sites()
    document = yaml.safe_load(SPEC)
    steps = {step["name"]: step for step in document["steps"]}
    steps["step4"]["split"] = {"by": "values", "dimension": "band", "values": ["g", "r", "i"]}
    steps["step6"]["split"] = {"by": "query", "query": "band IN ('g', 'r')"}
    split = create_campaign_from_spec("e2e-split", spec("e2e-split", steps=list(steps.values())))
    # The neighbour: stage 1 only, the tracts the other way round, its visit summaries returned to the hub.
    neighbour_document = yaml.safe_load(spec("e2e-neighbour", tract_map={9469: "IN2P3", 9948: "SLAC"}))
    neighbour_document["stages"] = [{"name": "stage1", "steps": ["step1", "step2a"]}]
    neighbour_document["steps"] = [s for s in neighbour_document["steps"] if s["name"] in ("step1", "step2a")]
    neighbour_document["outputs"] = {"return": ["visit_summary"]}
    neighbour = create_campaign_from_spec("e2e-neighbour", yaml.safe_dump(neighbour_document, sort_keys=False))

    # Groups follow the data: SLAC has g and r visits, IN2P3 r and i (visit 18 is i), so no empty band group.
    step4 = sorted(Group.objects.filter(campaign=split, step__name="step4").values_list("site__code", "data_query"))
    assert [(site, query.rsplit(" AND ", 1)[1]) for site, query in step4] == [
        ("IN2P3", "band='i'"), ("IN2P3", "band='r'"), ("SLAC", "band='g'"), ("SLAC", "band='r'")]
    returned = Movement.objects.get(campaign=split, kind="return")
    assert sorted(returned.data_ids["visit"]) == [9]  # IN2P3's only g/r visit: 10 and 18 are i-band

    split.start()
    neighbour.start()
    run_with_worker(data_dir, lambda: finished(split, neighbour), "both campaigns to finish")
    for campaign in (split, neighbour):
        campaign.refresh_from_db()
        assert campaign.status == "accepted", (campaign.name, (data_dir / "worker.log").read_text()[-3000:])
    assert not Group.objects.filter(campaign=split).exclude(status="accepted").exists()
    assert verify_campaign(split) == []
    assert verify_campaign(neighbour) == []

    # A dataset the plan never moved still shows: copy one of IN2P3's pvi into the hub under the campaign's runs.
    from stack.transfer import transfer_datasets

    roots = {repo.site.code: repo.root_uri for repo in ButlerRepo.objects.select_related("site")}
    transfer_datasets(roots["IN2P3"], roots["SLAC"], ["pvi"], [f"{split.output_prefix}/*"],
                      where="instrument='MockCam' AND visit=9", find_first=False)
    problems = verify_campaign(split)
    assert any(p.startswith("SLAC: pvi from IN2P3: missing [], unexpected [9]") for p in problems), problems
    assert verify_campaign(neighbour) == []


def test_a_site_lost_after_step1_is_reassigned_and_its_outputs_made_again(data_dir):
    load_sites()
    setup_local_sites()
    campaign = create_campaign_from_spec("e2e-lost", spec("e2e-lost"))
    in2p3, slac = Site.objects.get(code="IN2P3"), Site.objects.get(code="SLAC")
    # Hold IN2P3's step2a so that IN2P3 is lost right after its step1, with nothing running there.
    held = Group.objects.get(campaign=campaign, site=in2p3, step__name="step2a")
    held.pause(comment="e2e: hold until IN2P3 is lost")
    campaign.start()

    def in2p3_step1_done() -> bool:
        return not Group.objects.filter(campaign=campaign, site=in2p3, step__name="step1").exclude(
            status="accepted").exists()

    run_with_worker(data_dir, in2p3_step1_done, "IN2P3's step1")
    in2p3.take_offline(comment="e2e: power cut")
    preview = reassign_site_groups(campaign, in2p3, slac, mode="wait", preview=True)
    assert preview["waits_for"] == ["IN2P3"]
    result = reassign_site_groups(campaign, in2p3, slac, mode="remake", comment="IN2P3 lost")
    assert result["groups_remade"] == 1 and result["waits_for"] == []
    held.refresh_from_db()
    assert held.site == slac
    held.resume(comment="e2e: inputs are re-made at SLAC")
    assert Step.objects.get(campaign=campaign, name="step1").status == "running"

    run_with_worker(data_dir, lambda: finished(campaign), "the campaign to finish")
    campaign.refresh_from_db()
    assert campaign.status == "accepted", (data_dir / "worker.log").read_text()[-3000:]
    remade = Group.objects.get(campaign=campaign, step__name="step1", site=slac, ordinal=result["remade"][0]["ordinal"])
    assert remade.status == "accepted"
    assert held.jobs.get().created > remade.jobs.get().created  # step2a waited for the remade step1
    assert verify_campaign(campaign) == []
