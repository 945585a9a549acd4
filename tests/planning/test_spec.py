"""Spec parsing and validation: every error carries its field path."""

from __future__ import annotations

import pytest
import yaml

from planning.spec import FieldError, SpecError, load_spec, parse_spec
from planning.structure import step_dependencies

from .conftest import SHARES, SITES, TEMPLATES


def _template(name: str = "2x4") -> dict:
    return yaml.safe_load((TEMPLATES / f"{name}.yaml").read_text())


def _errors(document: dict, dataflow=None) -> list[str]:
    with pytest.raises(SpecError) as excinfo:
        load_spec(yaml.safe_dump(document), known_sites=SITES, site_shares=SHARES, dataflow=dataflow)
    return [str(error) for error in excinfo.value.errors]


def test_it_parses_the_templates(dataflow):
    for name in ("2x4", "2x2"):
        spec, _ = load_spec((TEMPLATES / f"{name}.yaml").read_text(), known_sites=SITES, dataflow=dataflow)
        assert spec.hub == "SLAC"
        assert [step.name for step in spec.steps][:4] == ["step1", "step2a", "step2b", "step2c"]
    assert spec.output_prefix == "u/msproc/mock-2x2"


def test_it_takes_step_dependencies_from_the_dataflow_and_adds_depends_on(dataflow):
    spec, _ = load_spec((TEMPLATES / "2x4.yaml").read_text(), dataflow=dataflow)
    assert {step.name: step.depends_on for step in spec.steps}["step2c"] == ("step2a", "step2b")  # as given
    assert step_dependencies(spec, dataflow) == {
        "step1": [],
        "step2a": ["step1"],
        "step2b": ["step2a"],
        "step2c": ["step2a", "step2b"],
        "step2d": ["step1", "step2a", "step2c"],  # not "the previous step" only: what it reads
        "step3": ["step2d"],
        "step7": ["step3"],
        "step4": ["step2d", "step3"],
        "step6": ["step2d", "step3"],
    }


def test_it_adds_a_depends_on_the_dataflow_does_not_need(dataflow):
    document = _template()
    document["steps"][6]["depends_on"] = ["step4"]  # step7 after step4 (wants the hub free)
    document["stages"][2]["steps"] = ["step3"]
    document["stages"][3]["steps"] = ["step4", "step7", "step6"]
    spec, _ = load_spec(yaml.safe_dump(document), dataflow=dataflow)
    assert step_dependencies(spec, dataflow)["step7"] == ["step3", "step4"]


def test_it_accepts_steps_without_scope_or_depends_on(dataflow):
    document = _template()
    for step in document["steps"]:
        step.pop("depends_on", None)
        if step.get("scope") == "wide":
            del step["scope"]
    spec, _ = load_spec(yaml.safe_dump(document), dataflow=dataflow)
    assert all(step.depends_on == () for step in spec.steps)
    assert {step.name: step.scope for step in spec.steps}["step1"] is None


def test_it_takes_default_shares_from_the_caller_and_normalises_them():
    document = _template()
    del document["tract_map"]
    document["sites"] = ["SLAC", "IN2P3"]
    spec = parse_spec(yaml.safe_dump(document), known_sites=SITES, site_shares=SHARES)
    assert spec.shares() == pytest.approx({"SLAC": 0.35 / 0.75, "IN2P3": 0.40 / 0.75})


def test_it_names_the_path_of_every_error_at_once():
    document = _template()
    document["steps"][3]["split"] = {"by": "visit", "max_size": 0}
    document["steps"][0]["memory_mb"] = -1
    document["steps"][1]["colour"] = "blue"
    document["steps"][2]["split"] = {"by": "galaxy"}
    document["steps"][5]["scope"] = "everywhere"
    document["steps"][4]["memory_mb"] = "lots"
    errors = _errors(document)
    assert "steps[3].split.max_size: must be > 0" in errors
    assert "steps[3].split: a global step runs as one group at the hub and takes no split" in errors
    assert "steps[0].memory_mb: must be > 0" in errors
    assert "steps[1].colour: unknown key" in errors
    assert any(e.startswith("steps[2].split.by: must be one of") for e in errors)
    assert any(e.startswith("steps[5].scope: must be one of") for e in errors)
    assert "steps[4].memory_mb: must be an integer, got str" in errors


def test_it_rejects_unknown_sites_and_a_hub_that_does_not_take_part():
    document = _template()
    document["sites"] = ["SLAC", "IN2P3", "LANCS", "CERN"]
    document["tract_map"][1] = "CERN"
    errors = _errors(document)
    assert "sites[3].code: unknown site 'CERN'" in errors
    assert "tract_map.1: unknown site 'CERN'" in errors

    document = _template()
    del document["tract_map"]
    document["sites"] = [{"code": "IN2P3", "share": 0.5}, {"code": "LANCS", "share": 0.5}]
    assert "hub: hub 'SLAC' must be a participating site" in _errors(document)


def test_it_checks_shares():
    document = _template()
    del document["tract_map"]
    document["sites"] = [{"code": "SLAC", "share": 0.5}, {"code": "IN2P3", "share": 0.4}]
    assert "sites: shares must add up to 1, got 0.9" in _errors(document)
    document["sites"] = [{"code": "SLAC", "share": 1.2}, {"code": "IN2P3", "share": -0.2}]
    assert "sites[1].share: must be between 0 and 1, got -0.2" in _errors(document)
    document["sites"] = [{"code": "SLAC", "share": 0.5}, {"code": "IN2P3"}]
    assert "sites[1].share: no share given and no default share for site 'IN2P3'" in _errors_no_defaults(document)


def _errors_no_defaults(document: dict) -> list[str]:
    with pytest.raises(SpecError) as excinfo:
        parse_spec(yaml.safe_dump(document), known_sites=SITES)
    return [str(error) for error in excinfo.value.errors]


def test_it_finds_dependency_cycles_and_unknown_dependencies():
    document = _template()
    document["steps"][0]["depends_on"] = ["step6"]
    document["steps"][8]["depends_on"] = ["step3", "step99"]
    errors = _errors(document)
    assert "steps[8].depends_on[1]: unknown step 'step99'" in errors
    assert "steps[0].depends_on[0]: step1 cannot wait for 'step6': the stages run step6 later" in errors
    document["steps"][8]["depends_on"] = ["step1"]
    document["steps"][0]["depends_on"] = ["step6"]  # and step6 waits for step1: also a cycle
    (cycle,) = [e for e in _errors(document) if "dependency cycle: " in e]
    assert cycle.startswith("steps[")
    assert "step1" in cycle and "step6" in cycle


def test_it_rejects_unknown_steps_and_unprovided_inputs(dataflow):
    document = _template()
    document["steps"].append({"name": "step5", "memory_mb": 1000})
    document["stages"][3]["steps"].append("step5")
    document["defaults"] = [entry for entry in document["defaults"] if "refcat" not in entry["dataset_types"]]
    document["outputs"]["return"].append("galaxy_zoo")
    errors = _errors(document, dataflow)
    assert "steps[9].name: unknown step 'step5': not a subset of the pipeline" in errors
    assert "steps[0].name: input 'refcat' is produced by no step and provided by no input or default" in errors
    assert "outputs.return[2]: 'galaxy_zoo' is produced by no step" in errors


def test_it_reports_steps_missing_from_stages_and_stages_naming_undefined_steps():
    document = _template()
    document["stages"][0]["steps"].append("step0")
    document["stages"][3]["steps"].remove("step6")
    errors = _errors(document)
    assert "stages[0].steps[3]: step 'step0' is not defined under steps" in errors
    assert "steps[8].name: step 'step6' is in no stage" in errors


def test_it_reports_bad_yaml_with_its_line():
    with pytest.raises(SpecError) as excinfo:
        parse_spec("name: x\nsteps: [a, b\nhub: SLAC\n")
    (error,) = excinfo.value.errors
    assert error.path == ""
    assert "line " in error.message


def test_it_reports_wrong_types_and_missing_keys():
    errors = _errors({"name": 3, "pipeline": "mock:drp", "stages": "all", "steps": [], "inputs": {}})
    assert "name: must be a non-empty string, got int" in errors
    assert "hub: is required" in errors
    assert "stages: must be a non-empty list, got str" in errors
    assert "inputs.collections: is required" in errors
    assert str(FieldError("", "x")) == "x"
