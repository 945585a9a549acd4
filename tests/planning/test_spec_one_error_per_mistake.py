"""One mistake, one error at its field: no follow-on errors blaming fields that are right, nothing ignored."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from planning.spec import SpecError, load_spec

SITES = ["SLAC", "IN2P3", "LANCS", "RAL"]
SPEC = yaml.safe_load((Path(__file__).resolve().parents[2] / "planning" / "templates" / "2x4.yaml").read_text())


def errors_of(document: dict) -> dict[str, str]:
    with pytest.raises(SpecError) as caught:
        load_spec(yaml.safe_dump(document, sort_keys=False), known_sites=SITES)
    return {error.path: error.message for error in caught.value.errors}


def shares_spec() -> dict:
    document = copy.deepcopy(SPEC)
    del document["tract_map"]
    document["sites"] = [{"code": "SLAC", "share": 0.4}, {"code": "IN2P3", "share": 0.3},
                         {"code": "LANCS", "share": 0.1}, {"code": "RAL", "share": 0.2}]
    return document


def test_a_hub_with_a_bad_share_is_blamed_for_its_share_only():
    document = shares_spec()
    document["sites"][0]["share"] = "lots"
    assert errors_of(document) == {"sites[0].share": "must be a number, got str"}


def test_a_hub_not_listed_is_still_an_error():
    document = shares_spec()
    document["sites"] = [{"code": "IN2P3", "share": 0.5}, {"code": "LANCS", "share": 0.5}]
    assert errors_of(document) == {"hub": "hub 'SLAC' must be a participating site"}


@pytest.mark.parametrize(("stage", "path", "message"), [
    ({"name": "stage1", "steps": "step1"}, "stages[0].steps", "must be a list, got str"),
    ({"steps": ["step1", "step2a", "step2b"]}, "stages[0].name", "is required"),
])
def test_a_stage_that_cannot_be_read_does_not_make_its_steps_stageless(stage, path, message):
    document = copy.deepcopy(SPEC)
    document["stages"][0] = stage
    assert errors_of(document) == {path: message}


def test_a_step_left_out_of_every_readable_stage_is_still_reported():
    document = copy.deepcopy(SPEC)
    document["stages"][0]["steps"] = ["step1", "step2a"]
    assert errors_of(document) == {"steps[2].name": "step 'step2b' is in no stage"}


def test_a_share_beside_a_tract_map_is_refused_rather_than_ignored():
    document = copy.deepcopy(SPEC)
    document["sites"][1] = {"code": "IN2P3", "share": 0.9}
    assert errors_of(document) == {
        "sites[1].share": "not used when tract_map assigns the tracts: remove the share or the tract_map"}
