"""Campaign names and output prefixes never become paths outside msproc's roots (tape, work dirs, Butler)."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaigns.backends.base import BackendError, Submission
from campaigns.backends.local import LocalExecutionBackend
from campaigns.models import Campaign
from campaigns.services import create_campaign_from_spec
from planning.spec import SpecError
from sites.services import load_sites
from tests.factories import CampaignFactory, MovementFactory
from transfers.models import Movement
from transfers.services import advance_movement, tape_dir

TEMPLATES = Path(__file__).resolve().parents[2] / "planning" / "templates"
BAD_NAMES = ["../../../some/dir", "/tmp/absolute", "..", "a/b", "x\x00y", "-rf", "a\\..\\b"]


@pytest.fixture
def spec_2x2() -> str:
    return (TEMPLATES / "2x2.yaml").read_text()


@pytest.mark.django_db
@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_campaign_name_that_is_not_one_path_component_is_a_spec_error(spec_2x2, name):
    load_sites()
    with pytest.raises(SpecError) as caught:
        create_campaign_from_spec(name, spec_2x2)
    assert [error.path for error in caught.value.errors] == ["name"]
    assert Campaign.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("prefix", ["../../escape", "u/msproc/../../../x", "/abs/out", "u//x", "u/./x"])
def test_an_output_prefix_that_could_leave_the_butler_root_is_a_spec_error(spec_2x2, prefix):
    load_sites()
    with pytest.raises(SpecError) as caught:
        create_campaign_from_spec(None, spec_2x2.replace("name: mock-2x2\n",
                                                         f"name: mock-2x2\noutput_prefix: '{prefix}'\n"))
    assert "output_prefix" in [error.path for error in caught.value.errors]
    assert Campaign.objects.count() == 0


@pytest.mark.parametrize("name", BAD_NAMES)
def test_the_tape_directory_is_always_under_the_tape_root(settings, tmp_path, name):
    settings.MSPROC_TAPE_DIR = tmp_path / "tape"
    with pytest.raises(ValueError):
        tape_dir(name)
    assert tape_dir("dp2-weekly") == (tmp_path / "tape" / "dp2-weekly").resolve()


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["../../../escape", "/tmp/abs-escape", ".."])
def test_an_archive_movement_of_a_campaign_with_an_unsafe_name_fails_without_writing(settings, tmp_path, name):
    """Campaigns saved before names were checked (or written behind msproc's back) still cannot escape."""
    settings.MSPROC_TAPE_DIR = tmp_path / "data" / "tape"
    settings.DATA_DIR = tmp_path / "data"
    campaign = CampaignFactory(name=name)
    campaign.hub.transfer_backend = "local"
    campaign.hub.save()
    campaign.start()
    movement = MovementFactory(campaign=campaign, kind="archive", status="ready")
    assert advance_movement(movement.pk) == "failed"
    movement = Movement.objects.get(pk=movement.pk)
    assert "no tape directory for this campaign" in movement.last_error
    assert list(tmp_path.iterdir()) == []  # nothing written anywhere: not even the movement's work dir
    assert not Path("/tmp/abs-escape").exists()


@pytest.mark.parametrize(("field", "value"), [
    ("work_dir", "/tmp/elsewhere/c1-step1-g1-a1"), ("work_dir", "{data}/campaigns/../../outside"),
    ("work_dir", "relative/dir"), ("output_run", "u/msproc/../../../x/run"), ("output", "/abs/out"),
    ("step_chain", "u/../.."), ("output_chain", "../escape"),
])
def test_the_local_backend_refuses_a_submission_whose_paths_leave_their_roots(settings, tmp_path, field, value):
    settings.DATA_DIR = tmp_path / "data"
    values = dict(workflow_name="c1-step1-g1-a1", site="SLAC", repo=str(tmp_path / "repo"), step="step1",
                  pipeline="mock:drp", inputs=[], output="u/msproc/c1/step1/group1",
                  output_run="u/msproc/c1/step1/group1/attempt1", step_chain="u/msproc/c1/step1",
                  data_query="visit = 1", work_dir=str(tmp_path / "data" / "campaigns" / "1" / "jobs" / "a1"),
                  memory_mb=0, output_chain="u/msproc/c1/output")
    values[field] = value.format(data=tmp_path / "data")
    with pytest.raises(BackendError) as caught:
        LocalExecutionBackend().submit(Submission(**values))
    assert caught.value.permanent and field in str(caught.value)
    assert not (tmp_path / "data").exists() and not (tmp_path / "outside").exists()


@pytest.mark.parametrize("label", ["../../escape", "/tmp/abs", "a/b", "..", "x\x00"])
def test_a_fault_injection_task_label_never_names_a_file_outside_the_config_dir(tmp_path, label):
    from stack.pipeline import FailureSpec

    with pytest.raises(ValueError, match="task_label"):
        FailureSpec(task_label=label, where="visit = 1").write(tmp_path / "config")
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == []
    assert FailureSpec(task_label="isr", where="visit = 1").write(tmp_path / "config").parent == (
        tmp_path / "config").resolve()


@pytest.mark.parametrize("step", ["../../escape", "/tmp/abs-step", "a/b"])
def test_a_step_name_never_names_a_log_outside_the_work_dir(tmp_path, step):
    from stack.paths import UnsafePath
    from stack.pipetask import run_group

    with pytest.raises(UnsafePath, match="log_name"):
        run_group(tmp_path / "repo", step, inputs=[], output="u/x", output_run="u/x/run", data_query="",
                  work_dir=tmp_path / "work")
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
