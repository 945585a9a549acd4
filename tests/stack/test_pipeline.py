from __future__ import annotations

import pytest

from stack.pipeline import (
    GLOBAL_STEPS,
    MOCK_PIPELINE,
    STEP_ORDER,
    failure_config,
    step_dataflow,
)


@pytest.fixture(scope="module")
def dataflow():
    return step_dataflow(MOCK_PIPELINE)


def test_it_lists_every_step_in_order(dataflow):
    assert tuple(dataflow) == STEP_ORDER
    assert {label for label, step in dataflow.items() if step.is_global} == GLOBAL_STEPS == {"step2c", "step7"}


def test_step1_reads_raws_and_defaults(dataflow):
    step1 = dataflow["step1"]
    assert set(step1.inputs) == {"raw", "bias", "flat", "refcat"}
    assert step1.overall_inputs == {"raw", "bias", "flat", "refcat"}
    assert step1.inputs["raw"].dimensions == ("detector", "exposure", "instrument")
    assert step1.inputs["raw"].storage_class == "StructuredDataDict"
    assert not step1.inputs["raw"].is_mock
    assert {"pvi", "single_visit_star"} <= set(step1.outputs)
    assert step1.intermediates == {"post_isr_image"}
    assert step1.outputs["pvi"].dimensions == ("detector", "instrument", "visit")
    assert step1.outputs["pvi"].is_mock
    assert "isr_log" in step1.bookkeeping


def test_step2c_gathers_stage1_catalogs(dataflow):
    step2c = dataflow["step2c"]
    assert set(step2c.inputs) == {"visit_summary", "isolated_star_cat", "isolated_star_sources", "fgcm_lookup_table"}
    assert step2c.input_producers == {
        "visit_summary": "step2a",
        "isolated_star_cat": "step2b",
        "isolated_star_sources": "step2b",
        "fgcm_lookup_table": None,
    }
    assert step2c.outputs["fgcm_photo_calib"].dimensions == ("instrument", "visit")
    assert step2c.task_dimensions == {"fgcm": ("instrument",)}


def test_later_steps_chain_as_designed(dataflow):
    assert dataflow["step2d"].input_producers == {"fgcm_photo_calib": "step2c", "pvi": "step1"}
    assert set(dataflow["step3"].outputs) == {"deep_coadd", "deep_coadd_property_map", "object_table"}
    assert set(dataflow["step7"].inputs) == {"deep_coadd_property_map"}
    assert set(dataflow["step4"].inputs) == {"calibrated_pvi", "deep_coadd"}
    assert set(dataflow["step6"].outputs) == {"diff_src", "metrics"}
    assert dataflow["step6"].stage == 4


def test_failure_config_writes_a_config_override(tmp_path):
    spec = failure_config("calibrateImage", "visit IN (2, 3)")
    args = spec.pipetask_args(tmp_path)
    assert args[0] == "-C"
    label, path = args[1].split(":", 1)
    assert label == "calibrateImage"
    text = open(path).read()
    assert "config.fail_condition = 'visit IN (2, 3)'" in text
    assert "builtins.ValueError" in text


def test_failure_config_rejects_an_empty_condition():
    with pytest.raises(ValueError):
        failure_config("isr", "  ")
