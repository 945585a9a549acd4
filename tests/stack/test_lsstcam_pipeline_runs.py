"""The synthetic hub provides what the LSSTCam DRP mock reads: its first steps run with pipetask."""

from __future__ import annotations

import pytest

from planning.dataflow import MOCK_LSSTCAM_DRP_PIPELINE
from stack.defaults import INPUT_COLLECTIONS, populate_hub
from stack.pipetask import run_group
from stack.repo import create_repo

pytestmark = pytest.mark.slow

STEPS = (
    ("step1a-single-visit-detectors", "instrument = 'MockCam' AND visit IN (1, 2)"),
    ("step1b-single-visit-visits", "instrument = 'MockCam' AND visit IN (1, 2)"),
    ("step1c-single-visit-tracts", "skymap = 'mock_skymap' AND tract = 9469"),
    ("step1d-single-visit-global", "instrument = 'MockCam'"),
    ("step2a-recalibrate-global", "instrument = 'MockCam'"),
)


def test_it_runs_the_lsstcam_drp_single_visit_steps_and_fgcm_on_the_synthetic_hub(survey, tmp_path):
    # A hub of its own: the LSSTCam DRP registers dataset types (post_isr_image…) with other dimensions
    # than the mock DRP does, and one repository holds one definition of each.
    hub_root = tmp_path / "hub"
    populate_hub(create_repo(hub_root), survey)
    previous: list[str] = []
    for step, query in STEPS:
        run = f"lsstcam/{step}/run"
        result = run_group(
            hub_root, step, inputs=[*INPUT_COLLECTIONS, *previous], output=f"lsstcam/{step}", output_run=run,
            data_query=query, work_dir=tmp_path, pipeline=MOCK_LSSTCAM_DRP_PIPELINE, log_name=step, timeout=600,
        )  # fmt: skip
        assert result.exit_code == 0 and result.failed == 0 and result.succeeded > 0, (step, result.error_lines)
        previous.append(run)
    assert result.task_quanta.keys() >= {"fgcmBuildFromIsolatedStar", "fgcmFitCycle", "fgcmOutputProducts"}
