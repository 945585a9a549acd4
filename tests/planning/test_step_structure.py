"""Steps from the pipeline's structure: sharding from its steps: section, order checked by lsst-pipe-base."""

from __future__ import annotations

import pytest
import yaml

from planning.spec import SpecError, load_spec, step_level
from planning.structure import step_dependencies

from .conftest import TEMPLATES


def _document(name: str = "lsstcam-2x2") -> dict:
    return yaml.safe_load((TEMPLATES / f"{name}.yaml").read_text())


def _errors(document: dict, dataflow) -> list[str]:
    with pytest.raises(SpecError) as excinfo:
        load_spec(yaml.safe_dump(document), dataflow=dataflow)
    return [str(error) for error in excinfo.value.errors]


def test_it_takes_each_steps_level_from_the_pipelines_steps_section(lsstcam_yaml_dataflow):
    spec, _ = load_spec((TEMPLATES / "lsstcam-2x2.yaml").read_text(), dataflow=lsstcam_yaml_dataflow)
    levels = {step.name: step_level(step, lsstcam_yaml_dataflow) for step in spec.steps}
    assert levels["step1a-single-visit-detectors"] == "visit"
    assert levels["step1c-single-visit-tracts"] == "tract"
    assert levels["step1d-single-visit-global"] == "global"
    assert levels["step2c-recalibrate-healpix"] == "healpix"
    assert levels["step4b-generate-ephemerides-global"] == "global"
    assert sum(level == "global" for level in levels.values()) == 10  # unsharded in steps:, run once at the hub
    assert all(step.scope is None for step in spec.steps)  # no scope needed


def test_it_derives_dependencies_from_the_dataflow_not_the_previous_step(lsstcam_yaml_dataflow):
    spec, _ = load_spec((TEMPLATES / "lsstcam-2x2.yaml").read_text(), dataflow=lsstcam_yaml_dataflow)
    dependencies = step_dependencies(spec, lsstcam_yaml_dataflow)
    assert "step2a-recalibrate-global" not in dependencies["step2c-recalibrate-healpix"]  # 2c does not need 2a
    assert dependencies["step2c-recalibrate-healpix"] == ["step1b-single-visit-visits", "step1c-single-visit-tracts"]
    assert {"step2a-recalibrate-global", "step2c-recalibrate-healpix"} <= set(dependencies["step2d-recalibrate-visits"])
    assert dependencies["step4c-measure-variability-tracts"][-1] == "step4b-generate-ephemerides-global"


def test_it_rejects_a_step_order_that_lsst_pipe_base_rejects_at_the_stage_entry(lsstcam_yaml_dataflow):
    document = _document()
    stage2 = document["stages"][1]["steps"]
    stage2.remove("step2a-recalibrate-global")
    stage2.insert(stage2.index("step2d-recalibrate-visits") + 1, "step2a-recalibrate-global")
    errors = _errors(document, lsstcam_yaml_dataflow)
    position = stage2.index("step2a-recalibrate-global")
    (error,) = errors
    assert error.startswith(f"stages[1].steps[{position}]: step order rejected by lsst-pipe-base:")
    assert "fgcmPhotoCalibCatalog" in error


def test_it_rejects_forcing_wide_or_splitting_a_step_the_pipeline_runs_once_or_per_pixel(lsstcam_yaml_dataflow):
    document = _document()
    steps = {step["name"]: (index, step) for index, step in enumerate(document["steps"])}
    one, step1d = steps["step1d-single-visit-global"]
    step1d["scope"] = "wide"
    two, step2a = steps["step2a-recalibrate-global"]
    step2a["split"] = {"by": "tract"}
    pixel, step2c = steps["step2c-recalibrate-healpix"]
    step2c["split"] = {"by": "tract"}
    errors = _errors(document, lsstcam_yaml_dataflow)
    assert (
        f"steps[{one}].scope: the pipeline runs step1d-single-visit-global once "
        "(its steps: entry has no sharding dimension)"
    ) in errors
    assert f"steps[{two}].split: step2a-recalibrate-global runs once and takes no split" in errors
    assert (
        f"steps[{pixel}].split: step2c-recalibrate-healpix runs one group per healpix3 pixel and takes no split"
    ) in errors


def test_it_still_accepts_old_specs_with_scope_and_previous_step_order(dataflow):
    spec, _ = load_spec((TEMPLATES / "2x4.yaml").read_text(), dataflow=dataflow)
    assert {step.name: step.scope for step in spec.steps}["step2c"] == "global"
    assert step_level(spec.steps[3], dataflow) == "global"
