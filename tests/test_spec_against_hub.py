"""A spec is checked against what the user can get wrong by typing: names the hub's Butler lacks, a stage
given twice, a YAML key given twice. Each is a 400 naming the field, and nothing is saved."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from campaigns.models import Campaign, CampaignTemplate
from campaigns.services import create_campaign_from_spec, plan_spec
from planning.inventory import ButlerInventory
from planning.spec import SpecError
from sites.models import ButlerRepo, Site
from sites.services import load_sites
from stack.defaults import populate_hub
from stack.repo import create_repo
from stack.survey import make_survey

SPEC_2X4 = (Path(__file__).resolve().parent.parent / "planning" / "templates" / "2x4.yaml").read_text()


def _with(**changes) -> str:
    document = yaml.safe_load(SPEC_2X4)
    document.update(changes)
    return yaml.safe_dump(document, sort_keys=False)


def _errors(spec_text: str) -> dict[str, str]:
    with pytest.raises(SpecError) as caught:
        plan_spec(spec_text)
    return {error.path: error.message for error in caught.value.errors}


@pytest.fixture
def hub_repo(db, tmp_path):
    """The four sites, with the hub's Butler repository ready and holding the synthetic survey."""
    load_sites()
    hub = Site.objects.get(is_hub=True)
    ButlerRepo.objects.filter(site=hub).update(root_uri=str(tmp_path / "hub"), status="ready")
    repo = ButlerRepo.objects.get(site=hub)
    populate_hub(create_repo(repo.root_uri), make_survey())
    return repo


def test_an_instrument_or_skymap_the_hub_lacks_is_refused_at_its_field(hub_repo):
    errors = _errors(_with(instrument="LSSTCam", skymap="lsst_cells_v1"))
    assert errors == {
        "instrument": "the hub's Butler repository has no instrument 'LSSTCam' (it has: MockCam)",
        "skymap": "the hub's Butler repository has no skymap 'lsst_cells_v1' (it has: mock_skymap)",
    }


def test_input_and_default_collections_and_dataset_types_must_exist_at_the_hub(hub_repo):
    document = yaml.safe_load(SPEC_2X4)
    document["inputs"] = {"collections": ["MockCam/raw/all", "No/Such/Coll"], "dataset_types": ["raw", "galaxy_zoo"]}
    document["defaults"][0]["collections"] = ["nowhere"]
    errors = _errors(yaml.safe_dump(document, sort_keys=False))
    assert errors == {
        "inputs.collections[1]": "the hub's Butler repository has no collection 'No/Such/Coll'",
        "inputs.dataset_types[1]": "the hub's Butler repository has no dataset type 'galaxy_zoo'",
        "defaults[0].collections[0]": "the hub's Butler repository has no collection 'nowhere'",
    }
    with pytest.raises(SpecError):
        create_campaign_from_spec(None, yaml.safe_dump(document, sort_keys=False))
    assert not Campaign.objects.exists()


def test_a_spec_naming_what_the_hub_holds_plans(hub_repo):
    plan = plan_spec(SPEC_2X4)
    assert plan["instrument"] == "MockCam" and plan["steps"]


def test_the_hub_inventory_holds_only_the_specs_instrument_and_skymap(hub_repo):
    """Bind names equal to dimension names made "instrument = instrument" true for every row."""
    root = hub_repo.root_uri
    assert list(ButlerInventory(root, "NoCam", "mock_skymap").visits()) == []
    other_skymap = list(ButlerInventory(root, "MockCam", "no_skymap").visits())
    assert other_skymap and all(not info.tracts for info in other_skymap)  # the visits, over no tract
    assert all(info.tracts for info in ButlerInventory(root, "MockCam", "mock_skymap").visits())


def test_without_a_ready_hub_repository_the_names_are_not_checked(db):
    load_sites()
    assert plan_spec(_with(instrument="MockCam"))["instrument"] == "MockCam"


def test_a_stage_given_twice_is_refused_at_its_name_before_anything_is_saved(db, admin_client):
    load_sites()
    document = yaml.safe_load(SPEC_2X4)
    document["stages"][1]["name"] = document["stages"][0]["name"]
    text = yaml.safe_dump(document, sort_keys=False)
    assert _errors(text) == {"stages[1].name": "stage 'stage1' defined twice (first at stages[0])"}
    response = admin_client.post("/api/v1/campaigns/", {"spec": text}, content_type="application/json")
    assert response.status_code == 400, response.content
    response = admin_client.post("/api/v1/campaign-templates/", {"name": "twice", "spec": text},
                                 content_type="application/json")
    assert response.status_code == 400, response.content
    assert not Campaign.objects.exists() and not CampaignTemplate.objects.exists()


def test_a_yaml_key_given_twice_is_an_error_naming_the_key_and_both_lines(db):
    load_sites()
    text = SPEC_2X4.replace("name: ", "name: first\nname: ", 1)
    errors = _errors(text)
    assert list(errors) == [""]
    assert "key 'name' given twice (first on line" in errors[""] and errors[""].startswith("invalid YAML: line ")
