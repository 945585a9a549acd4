from __future__ import annotations

import json

import pytest

from stack.defaults import INPUT_COLLECTIONS
from stack.pipeline import failure_config
from stack.pipetask import build_command, parse_log, parse_summary, run_group
from stack.repo import open_repo, repo_contents

pytestmark = pytest.mark.slow


def test_build_command_has_the_group_options():
    command = build_command(
        "/repo",
        "step2a",
        inputs=["a", "b"],
        output="out/step2a/g1",
        output_run="out/step2a/g1/job1",
        data_query="visit = 1",
        skip_existing_in=["out/step2a/g1"],
        executable="pipetask",
    )
    assert command[:2] == ["pipetask", "run"]
    assert command[command.index("-p") + 1].endswith("drp_mock.yaml#step2a")
    assert command[command.index("-i") + 1] == "a,b"
    assert command[command.index("--output-run") + 1] == "out/step2a/g1/job1"
    assert command[command.index("--skip-existing-in") + 1] == "out/step2a/g1"
    assert "-j" in command and "--extend-run" not in command


def test_step1_for_one_visit_succeeds_and_counts_match(step1_visit1, hub_root):
    result = step1_visit1
    assert result.ok, result.error_lines
    assert (result.expected, result.succeeded, result.failed) == (4, 4, 0)
    assert result.task_quanta == {"isr": 2, "calibrateImage": 2}
    assert result.log_path.exists() and result.summary_path is not None
    butler = open_repo(hub_root, writeable=False)
    contents = repo_contents(butler, "msproc/step1/visit1/job1")
    assert contents["pvi"] == 2
    assert contents["single_visit_star"] == 2
    assert contents["post_isr_image"] == 2


def test_injected_failure_is_reported_and_rescue_runs_only_the_missing_quanta(hub_root, tmp_path):
    common = dict(
        inputs=list(INPUT_COLLECTIONS),
        output="msproc/step1/visit2",
        data_query="instrument = 'MockCam' AND visit IN (2, 3)",
        work_dir=tmp_path,
        timeout=300,
    )
    first = run_group(
        hub_root,
        "step1",
        output_run="msproc/step1/visit2/job1",
        failures=[failure_config("calibrateImage", "visit = 2")],
        log_name="attempt1",
        **common,
    )
    assert not first.ok
    assert first.exit_code != 0
    assert (first.expected, first.succeeded, first.failed) == (8, 6, 2)
    assert sorted(d["detector"] for _, d in first.failed_data_ids) == [0, 1]
    assert {label for label, _ in first.failed_data_ids} == {"calibrateImage"}
    assert any("Simulated failure" in line for line in first.error_lines)

    retry = run_group(hub_root, "step1", output_run="msproc/step1/visit2/job2", rescue=True, log_name="a2", **common)
    assert retry.ok, retry.error_lines
    assert retry.task_quanta == {"isr": 0, "calibrateImage": 2}
    assert (retry.expected, retry.succeeded) == (2, 2)


def test_parsers_read_pipetask_outputs(step1_visit1):
    counts = parse_summary(step1_visit1.summary_path)
    assert (counts.expected, counts.succeeded, counts.failed, counts.blocked) == (4, 4, 0, 0)
    from_log = parse_log(step1_visit1.log_path)
    assert (from_log.expected, from_log.succeeded) == (4, 4)
    report = json.loads(step1_visit1.summary_path.read_text())
    assert report["status"] == "success"


def test_parse_log_recognises_an_empty_graph(tmp_path):
    # What pipetask prints when --skip-existing-in leaves nothing to do.
    log = tmp_path / "empty.log"
    log.write_text(
        "lsst.ctrl.mpexec.cli.utils INFO: QuantumGraph contains no quanta.\n"
        "Error: QuantumGraph was empty; ERROR logs above should provide details.\n"
    )
    counts = parse_log(log)
    assert counts.empty_graph and counts.expected is None
