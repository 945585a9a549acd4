"""A step's split must fit its level: a tract-level step cannot be split by visit or exposure.

The level comes from the pipeline (a step whose tasks have a ``tract`` dimension
runs per tract); the error names the step's field path and comes with the other
dataflow errors, whether the spec goes through ``load_spec`` or straight to the planner.
"""

from __future__ import annotations

import pytest
import yaml

from planning.dataflow import load_dataflow, resolve_pipeline_uri
from planning.planner import plan_campaign
from planning.spec import SpecError, load_spec, parse_spec, step_level

from .conftest import SHARES, SITES, TEMPLATES


def _template(name: str = "2x4") -> dict:
    return yaml.safe_load((TEMPLATES / f"{name}.yaml").read_text())


def _index(document: dict, step: str) -> int:
    return next(index for index, entry in enumerate(document["steps"]) if entry["name"] == step)


def _load(document: dict, dataflow):
    return load_spec(yaml.safe_dump(document), known_sites=SITES, site_shares=SHARES, dataflow=dataflow)


def _errors(document: dict, dataflow) -> list[str]:
    with pytest.raises(SpecError) as excinfo:
        _load(document, dataflow)
    return [str(error) for error in excinfo.value.errors]


@pytest.fixture(scope="module")
def mock_dataflow():
    """The pipeline the shipped templates name (``mock:drp``), where step4 runs per tract."""
    return load_dataflow(resolve_pipeline_uri("mock:drp"))


def test_a_tract_step_split_by_visit_names_the_field_and_the_step(dataflow):
    document = _template()
    step3, step2b = _index(document, "step3"), _index(document, "step2b")
    document["steps"][step3]["split"] = {"by": "visit", "max_size": 100}
    document["steps"][step2b]["split"] = {"by": "exposure", "max_size": 10}
    document["outputs"]["return"].append("galaxy_zoo")
    errors = _errors(document, dataflow)
    assert errors == [
        f"steps[{step2b}].split.by: step2b runs per tract; split by exposure needs a visit-level step "
        "(use tract, values or query)",
        f"steps[{step3}].split.by: step3 runs per tract; split by visit needs a visit-level step "
        "(use tract, values or query)",
        "outputs.return[2]: 'galaxy_zoo' is produced by no step",  # collected with the other dataflow errors
    ]


def test_the_planner_refuses_it_too_when_the_spec_was_only_parsed(dataflow, inventory):
    document = _template()
    step3 = _index(document, "step3")
    document["steps"][step3]["split"] = {"by": "visit", "max_size": 100}
    spec = parse_spec(yaml.safe_dump(document), known_sites=SITES, site_shares=SHARES)
    with pytest.raises(SpecError) as excinfo:
        plan_campaign(spec, inventory, dataflow)
    ((error),) = excinfo.value.errors
    assert error.path == f"steps[{step3}].split.by"
    assert error.message.startswith("step3 runs per tract; split by visit needs a visit-level step")


def test_tract_steps_take_tract_values_and_query_splits(dataflow, inventory):
    document = _template()
    document["steps"][_index(document, "step3")]["split"] = {"by": "values", "values": ["g", "r"]}
    document["steps"][_index(document, "step2b")]["split"] = {"by": "query", "query": "band != 'u'"}
    spec, _ = _load(document, dataflow)
    plan = plan_campaign(spec, inventory, dataflow)
    step3 = plan.step("step3")
    assert step3.level == "tract"
    assert [(g.site, g.data_query) for g in step3.groups][:2] == [
        ("SLAC", "skymap='mock_skymap' AND tract IN (9469, 9470) AND band='g'"),
        ("SLAC", "skymap='mock_skymap' AND tract IN (9469, 9470) AND band='r'"),
    ]
    assert plan.step("step2b").groups[0].data_query.endswith("AND (band != 'u')")


def test_visit_steps_take_every_split(dataflow, inventory):
    document = _template()
    document["steps"][_index(document, "step1")]["split"] = {"by": "tract", "max_size": 1}
    document["steps"][_index(document, "step2a")]["split"] = {"by": "exposure", "max_size": 5}
    spec, _ = _load(document, dataflow)
    plan = plan_campaign(spec, inventory, dataflow)
    assert plan.step("step1").level == "visit"
    assert plan.step("step1").groups[0].tracts == [9469]
    assert "exposure IN (" in plan.step("step2a").groups[0].data_query


def test_a_wide_step_with_neither_tract_nor_visit_follows_its_split(dataflow):
    """step2c's task has only ``instrument``: run wide, its split decides its level (no error)."""
    for by, level in (("tract", "tract"), ("visit", "visit")):
        document = _template()
        entry = document["steps"][_index(document, "step2c")]
        entry.update(scope="wide", split={"by": by, "max_size": 2})
        spec, _ = _load(document, dataflow)
        assert step_level(next(s for s in spec.steps if s.name == "step2c"), dataflow) == level


@pytest.mark.parametrize("name", ["2x4", "2x2"])
def test_the_templates_plan_with_the_mock_pipeline(mock_dataflow, inventory, name):
    spec, _ = load_spec((TEMPLATES / f"{name}.yaml").read_text(), known_sites=SITES, dataflow=mock_dataflow)
    plan = plan_campaign(spec, inventory, mock_dataflow)
    step4 = plan.step("step4")
    assert step4.level == "tract"
    per_group = 2 if name == "2x4" else 1  # the templates' step4 split: {by: tract, max_size: 2} / {by: tract}
    assert [g.tracts for g in step4.groups] == [site.tracts[i:i + per_group] for site in plan.sites
                                                for i in range(0, len(site.tracts), per_group)]
    assert all(g.data_query.startswith("skymap='mock_skymap' AND tract IN (") for g in step4.groups)


def test_the_old_template_split_of_step4_is_now_an_error(mock_dataflow):
    """step4 (forced photometry) has a tract dimension in mock:drp: splitting it by visit used to
    fall back to tract groups silently."""
    document = _template()
    step4 = _index(document, "step4")
    document["steps"][step4]["split"] = {"by": "visit", "max_size": 500}
    assert _errors(document, mock_dataflow) == [
        f"steps[{step4}].split.by: step4 runs per tract; split by visit needs a visit-level step "
        "(use tract, values or query)"
    ]
