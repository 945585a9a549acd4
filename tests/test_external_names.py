"""Names msproc gives to things in external systems are unique by construction; creation refuses a clash.

Output collections (the output prefix), RUN collections, BPS workflow names, work directories and
Rucio dataset names all carry the campaign's unique name or id.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from campaigns.models import Campaign, CampaignTemplate
from campaigns.recurring import start_recurring
from campaigns.services import create_campaign_from_spec
from campaigns.submission import new_job, workflow_name
from planning.spec import SpecError
from sites.services import load_sites
from transfers.backends.rucio.registration import dataset_name
from transfers.services import movement_dir

TEMPLATES = Path(__file__).resolve().parent.parent / "planning" / "templates"


@pytest.fixture
def sites(db):
    load_sites()


@pytest.fixture(scope="module")
def spec_2x2() -> str:
    return (TEMPLATES / "2x2.yaml").read_text()


def _errors(excinfo) -> dict[str, str]:
    return {error.path: error.message for error in excinfo.value.errors}


def test_two_campaigns_from_one_spec_get_their_own_collections(sites, spec_2x2):
    first = create_campaign_from_spec("first", spec_2x2)
    second = create_campaign_from_spec("second", spec_2x2)
    assert (first.output_prefix, second.output_prefix) == ("u/msproc/first", "u/msproc/second")
    assert first.plan["name"] == "first" and second.plan["name"] == "second"
    # What each campaign writes (the inputs, MockCam/raw/all..., are read by both).
    first_collections = {c for m in first.movements.all() for c in m.collections if c.startswith("u/")}
    second_collections = {c for m in second.movements.all() for c in m.collections if c.startswith("u/")}
    assert first_collections and second_collections and not first_collections & second_collections


def test_the_same_spec_twice_without_a_name_is_refused_at_name_not_run_into_the_first(sites, spec_2x2):
    create_campaign_from_spec(None, spec_2x2)
    with pytest.raises(SpecError) as excinfo:
        create_campaign_from_spec(None, spec_2x2)
    assert list(_errors(excinfo)) == ["name"]
    assert Campaign.objects.count() == 1


def test_names_differing_only_in_case_are_one_name(sites, spec_2x2):
    create_campaign_from_spec("DR1-weekly", spec_2x2)
    with pytest.raises(SpecError) as excinfo:
        create_campaign_from_spec("dr1-WEEKLY", spec_2x2)
    assert _errors(excinfo) == {"name": "a campaign called 'dr1-WEEKLY' exists already "
                                        "('DR1-weekly': names may not differ only in case)"}
    assert Campaign.objects.count() == 1


@pytest.mark.parametrize(("taken", "wanted", "relation"), [
    ("u/shared/run", "u/shared/run", "is the output prefix of"),
    ("u/shared/run", "u/shared/run/sub", "overlaps"),
    ("u/shared/run/sub", "u/shared/run", "overlaps"),
    ("u/Shared/Run", "u/shared/run", "is the output prefix of"),  # one directory on a case-insensitive disk
    ("u/shared/RUN/sub", "u/shared/run", "overlaps"),
])
def test_it_refuses_an_output_prefix_another_campaign_uses_or_nests_with(sites, spec_2x2, taken, wanted, relation):
    create_campaign_from_spec("one", spec_2x2.replace("pipeline: mock:drp", f"output_prefix: {taken}\npipeline: "
                                                                             "mock:drp"))
    with pytest.raises(SpecError) as excinfo:
        create_campaign_from_spec("two", spec_2x2.replace("pipeline: mock:drp",
                                                          f"output_prefix: {wanted}\npipeline: mock:drp"))
    assert relation in _errors(excinfo)["output_prefix"]
    assert "'one'" in _errors(excinfo)["output_prefix"]


def test_a_prefix_that_only_starts_like_another_is_not_a_clash(sites, spec_2x2):
    create_campaign_from_spec("one", spec_2x2.replace("pipeline: mock:drp",
                                                      "output_prefix: u/a/run\npipeline: mock:drp"))
    other = create_campaign_from_spec("two", spec_2x2.replace("pipeline: mock:drp",
                                                              "output_prefix: u/a/run2\npipeline: mock:drp"))
    assert other.output_prefix == "u/a/run2"


def test_it_refuses_a_prefix_whose_collections_already_exist_at_the_hub(sites, spec_2x2, tmp_path, settings):
    from campaigns.services import survey_inventory
    from sites.models import ButlerRepo, Site
    from stack.repo import create_repo, ensure_run

    root = tmp_path / "hub"
    butler = create_repo(root)
    ensure_run(butler, "u/msproc/leftover/step1/group1/attempt1")
    butler.close()
    ButlerRepo.objects.update_or_create(site=Site.objects.get(code="SLAC"), name=settings.MSPROC_REPO_NAME,
                                        defaults={"root_uri": str(root), "status": "ready"})
    with pytest.raises(SpecError) as excinfo:
        create_campaign_from_spec("leftover", spec_2x2, inventory=survey_inventory())
    assert create_campaign_from_spec("fresh", spec_2x2, inventory=survey_inventory()).output_prefix == (
        "u/msproc/fresh")
    message = _errors(excinfo)["name"]  # the default prefix comes from the name
    assert "already has collection(s) u/msproc/leftover/step1/group1/attempt1" in message


def test_workflow_names_carry_the_campaign_id_so_lookalike_names_stay_apart(sites, spec_2x2):
    # "c03 x" cannot be a name any more; campaigns whose names clean up alike still differ by id.
    first = create_campaign_from_spec("c03.x", spec_2x2)
    second = create_campaign_from_spec("c03-x", spec_2x2)
    group_a = first.groups.select_related("step", "campaign").order_by("pk").first()
    group_b = second.groups.select_related("step", "campaign").get(step__name=group_a.step.name,
                                                                  ordinal=group_a.ordinal)
    assert workflow_name(group_a, 1) != workflow_name(group_b, 1)
    assert f"-c{first.pk}-" in workflow_name(group_a, 1)
    group_a.attempts = group_b.attempts = 1
    job_a, job_b = new_job(group_a, False), new_job(group_b, False)
    assert job_a.run_collection.startswith("u/msproc/c03.x/") and job_b.run_collection.startswith("u/msproc/c03-x/")
    assert job_a.submit_dir != job_b.submit_dir


def test_rucio_datasets_and_work_directories_differ_for_equal_movement_keys(sites, spec_2x2):
    first = create_campaign_from_spec("first", spec_2x2)
    second = create_campaign_from_spec("second", spec_2x2)
    a = first.movements.order_by("key").first()
    b = second.movements.get(key=a.key)
    assert movement_dir(a) != movement_dir(b)
    assert dataset_name(a.key, salt=str(movement_dir(a))) != dataset_name(b.key, salt=str(movement_dir(b)))


def test_every_run_of_a_recurring_schedule_gets_its_own_name_and_collections(sites, spec_2x2):
    template = CampaignTemplate.objects.create(name="weekly 2x2!", version=1, spec=spec_2x2)
    runs = [start_recurring(template.pk, "SLAC") for _ in range(3)]
    names = [run.name for run in runs]
    assert len(set(names)) == 3 and all(name.startswith("weekly-2x2-SLAC-") for name in names)
    assert len({run.output_prefix for run in runs}) == 3
    assert all(run.status == "running" for run in runs)


def test_a_template_that_fixes_its_output_prefix_gets_one_per_run(sites, spec_2x2):
    document = yaml.safe_load(spec_2x2)
    document["output_prefix"] = "u/val"
    template = CampaignTemplate.objects.create(name="val", version=1, spec=yaml.safe_dump(document))
    first, second = start_recurring(template.pk), start_recurring(template.pk)
    assert first.name != second.name and first.output_prefix != second.output_prefix
    assert first.output_prefix == f"u/val/{first.name.removeprefix('val-')}"  # the run's part: all-yymmddHHMM
    assert second.output_prefix == f"u/val/{second.name.removeprefix('val-')}"


def test_a_recurring_lsstcam_run_keeps_its_collections_within_butler_s_limit(sites):
    from planning.collection_names import run_collection

    text = (TEMPLATES / "lsstcam-2x2.yaml").read_text()
    template = CampaignTemplate.objects.create(name="lsstcam-2x2-weekly-validation", version=1, spec=text)
    run = start_recurring(template.pk, "SLAC")
    assert run.output_prefix.startswith(yaml.safe_load(text)["output_prefix"] + "/SLAC-")
    longest = max((run_collection(run.output_prefix, group.step.name, group.ordinal, 999)
                   for group in run.groups.select_related("step")), key=len)
    assert len(longest) <= 64, longest
