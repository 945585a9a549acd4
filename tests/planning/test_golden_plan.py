"""Plans at 1 % of a data release stay exactly what they were: a change to the planner that is meant to be
only faster (issue 18) must not change a single group, data ID or movement.

The 1 % survey is bench/plan_scale.py's, over Rubin's real LSST sky map (deterministic for its seed). The
golden file holds the SHA-256 of the plan's canonical JSON and a summary that a failure prints beside the new
one. A deliberate change of the rules updates it: ``MSPROC_UPDATE_GOLDEN=1 pytest tests/planning/test_golden_plan.py``,
and the commit says why the plan changed.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter

import pytest
import yaml

from planning.dataflow import MOCK_DRP_PIPELINE, load_dataflow
from planning.planner import plan_campaign
from planning.skymap_survey import load_lsst_skymap, make_survey
from planning.spec import load_spec

from .conftest import SITES, TEMPLATES
from .test_plan_scale import SHARES, _Inventory

GOLDEN = TEMPLATES.parent.parent / "tests" / "planning" / "data" / "golden_plan_1pct.json"


def _summary(plan) -> dict:
    kinds = Counter(movement.kind for movement in plan.movements)
    return {
        "groups": {step.name: len(step.groups) for step in plan.steps},
        "group_visits": sum(len(group.visits) for step in plan.steps for group in step.groups),
        "group_tracts": sum(len(group.tracts) for step in plan.steps for group in step.groups),
        "movements": dict(sorted(kinds.items())),
        "moved_data_ids": sum(len(ids) for movement in plan.movements for ids in movement.data_ids.values()),
        "tracts": {site.code: len(site.tracts) for site in plan.sites},
    }


@pytest.fixture(scope="module")
def plan():
    document = yaml.safe_load((TEMPLATES / "2x4.yaml").read_text())
    document.pop("tract_map")
    document["sites"] = [{"code": code, "share": share} for code, share in SHARES.items()]
    document["instrument"], document["skymap"] = "LSSTCam", "lsst_cells_v1"
    spec, dataflow = load_spec(yaml.safe_dump(document), known_sites=SITES,
                               dataflow=load_dataflow(str(MOCK_DRP_PIPELINE)))
    return plan_campaign(spec, _Inventory(make_survey(load_lsst_skymap(), 0.01)), dataflow)


def test_the_plan_at_one_percent_of_a_data_release_is_the_golden_one(plan):
    text = json.dumps(plan.to_dict(), sort_keys=True, separators=(",", ":"))
    found = {"sha256": hashlib.sha256(text.encode()).hexdigest(), "summary": _summary(plan)}
    if os.environ.get("MSPROC_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")
    golden = json.loads(GOLDEN.read_text())
    assert found["summary"] == golden["summary"]
    assert found["sha256"] == golden["sha256"], "same counts, different plan: a group, data ID or movement changed"
    assert sum(found["summary"]["groups"].values()) > 100 and found["summary"]["movements"]  # a real plan
