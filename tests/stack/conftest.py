"""Session fixtures for the LSST-stack helpers: one hub repository, built once."""

from __future__ import annotations

from pathlib import Path

import pytest

from stack.defaults import INPUT_COLLECTIONS, populate_hub
from stack.pipetask import RunResult, run_group
from stack.repo import create_repo
from stack.survey import Survey, make_survey


@pytest.fixture(scope="session")
def survey() -> Survey:
    return make_survey()


@pytest.fixture(scope="session")
def hub_root(tmp_path_factory: pytest.TempPathFactory, survey: Survey) -> Path:
    root = tmp_path_factory.mktemp("hub") / "repo"
    butler = create_repo(root)
    populate_hub(butler, survey)
    return root


@pytest.fixture(scope="session")
def step1_visit1(hub_root: Path, tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    """step1 for visit 1 at the hub (2 detectors: 2 isr + 2 calibrateImage quanta)."""
    return run_group(
        hub_root,
        "step1",
        inputs=list(INPUT_COLLECTIONS),
        output="msproc/step1/visit1",
        output_run="msproc/step1/visit1/job1",
        data_query="instrument = 'MockCam' AND visit = 1",
        work_dir=tmp_path_factory.mktemp("work"),
        log_name="step1-visit1",
        timeout=300,
    )
