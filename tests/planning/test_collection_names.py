"""Collection names: one scheme (planning/collection_names.py), within Butler's 64 characters by default."""

from __future__ import annotations

import pytest
import yaml
from lsst.daf.butler.column_spec import COLLECTION_NAME_MAX_LENGTH

from campaigns.services import survey_inventory
from planning.bps import SiteInfo, render_submit_yaml
from planning.collection_names import (
    group_collection,
    output_collection,
    run_collection,
    segment_clashes,
    step_collection,
    step_segment,
)
from planning.planner import plan_campaign
from planning.spec import COLLECTION_MAX_LENGTH, SpecError, load_spec

from .conftest import TEMPLATES


def test_its_limit_is_the_one_daf_butler_s_schema_declares():
    assert COLLECTION_MAX_LENGTH == COLLECTION_NAME_MAX_LENGTH


@pytest.mark.parametrize(("label", "segment"), [
    ("step1a-single-visit-detectors", "step1a"),
    ("step2c-recalibrate-healpix", "step2c"),
    ("step4f-make-hips-from-rgb", "step4f"),
    ("step10-x", "step10"),
    ("step2a", "step2a"),            # the mock DRP's labels are their own segments
    ("singleFrame", "singleFrame"),  # not drp_pipe's stepNx-words form
    ("step-one", "step-one"),
    ("step1a-", "step1a-"),
])
def test_it_names_a_drp_pipe_step_s_collections_by_its_stepnx_part(label, segment):
    assert step_segment(label) == segment
    assert run_collection("u/p", label, 12, 3) == f"u/p/{segment}/group12/attempt3"
    assert group_collection("u/p", label, 12) == f"u/p/{segment}/group12"
    assert step_collection("u/p", label) == f"u/p/{segment}"
    assert output_collection("u/p") == "u/p/output"


def test_it_finds_steps_that_would_share_collections():
    assert segment_clashes(["step1a-detect", "step1a-measure", "step1b-x", "step2"]) == {
        "step1a": ["step1a-detect", "step1a-measure"]}
    assert segment_clashes(["step1a", "step1a-measure"]) == {"step1a": ["step1a", "step1a-measure"]}
    assert segment_clashes(["step1a-x", "step1b-x", "step2a"]) == {}


@pytest.fixture(scope="module")
def lsstcam_document():
    return yaml.safe_load((TEMPLATES / "lsstcam-2x4.yaml").read_text())


def test_it_plans_the_lsstcam_drp_within_butler_s_limit_without_any_setting(lsstcam_document,
                                                                         lsstcam_yaml_dataflow):
    document = {**lsstcam_document, "name": "dr1-weekly-2026-11-29"}
    document.pop("output_prefix", None)
    spec, _ = load_spec(yaml.safe_dump(document), dataflow=lsstcam_yaml_dataflow)
    plan = plan_campaign(spec, survey_inventory(), lsstcam_yaml_dataflow)
    longest = max((run_collection(plan.output_prefix, step.name, group.ordinal, 999)
                   for step in plan.steps for group in step.groups), key=len)
    assert len(longest) <= COLLECTION_NAME_MAX_LENGTH, longest
    assert {m.collections[0].split("/")[-1] for m in plan.movements if m.kind == "fan_in"} <= {
        step_segment(step.name) for step in plan.steps}  # movements read the steps' CHAINED collections
    step = next(step for step in plan.steps if step.name == "step1a-single-visit-detectors")
    group = step.groups[0]
    site = SiteInfo(code=group.site, compute_site=group.site, compute_cloud="US",
                    butler_config=f"/repo/{group.site}")
    payload = yaml.safe_load(render_submit_yaml(plan, step, group, site, pipeline_yaml="drp.yaml"))["payload"]
    assert payload["output"] == f"u/msproc/dr1-weekly-2026-11-29/step1a/group{group.ordinal}"


def test_it_refuses_an_lsstcam_campaign_whose_name_makes_collections_too_long(lsstcam_document,
                                                                              lsstcam_yaml_dataflow):
    document = {**lsstcam_document, "name": "a-campaign-name-that-is-long-enough-to-pass-it"}
    document.pop("output_prefix", None)
    spec, _ = load_spec(yaml.safe_dump(document), dataflow=lsstcam_yaml_dataflow)
    with pytest.raises(SpecError) as excinfo:
        plan_campaign(spec, survey_inventory(), lsstcam_yaml_dataflow)
    (error,) = excinfo.value.errors
    assert error.path == "name" and "the hub's Butler allows 64" in error.message
    assert "/step" in error.message and "/attempt999" in error.message  # the longest collection is shown


def test_it_refuses_a_pipeline_whose_steps_would_share_collections(tmp_path):
    from planning.dataflow import load_dataflow
    from stack.pipeline import MOCK_PIPELINE

    renames = {"step2a": "step2-consolidate", "step2b": "step2-isolated"}
    pipeline, spec_text = MOCK_PIPELINE.read_text(), (TEMPLATES / "2x2.yaml").read_text()
    for old, new in renames.items():
        pipeline = pipeline.replace(f"  {old}:\n", f"  {new}:\n")
        spec_text = spec_text.replace(old, new)
    path = tmp_path / "clashing.yaml"
    path.write_text(pipeline)
    dataflow = load_dataflow(str(path))
    spec, _ = load_spec(spec_text, dataflow=dataflow)
    with pytest.raises(SpecError) as excinfo:
        plan_campaign(spec, survey_inventory(), dataflow)
    messages = {error.path: error.message for error in excinfo.value.errors}
    (path_, message), = messages.items()
    assert path_.startswith("steps") and "step2-consolidate, step2-isolated" in message
    assert "u/msproc/mock-2x2/step2/" in message
