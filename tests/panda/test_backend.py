"""The PanDA backend driven through the real BPS plugin and panda-client against a fake PanDA server."""

from __future__ import annotations

import json
import logging
import os

import pytest
import yaml

from campaigns.backends.base import BackendError, JobRef, Submission
from campaigns.backends.panda.backend import PandaExecutionBackend
from campaigns.submission import site_fields
from sites.choices import SiteStatus
from sites.models import Site
from stack.defaults import INPUT_COLLECTIONS
from stack.pipeline import MOCK_PIPELINE
from tests.factories import SiteFactory

from .conftest import TOKEN

pytestmark = pytest.mark.django_db


def submission(tmp_path, repo, name="c1-step1-g1-a1", output_run="u/msproc/c1/step1/group1/attempt1", **kw):
    bps_yaml = yaml.safe_dump({
        "pipelineYaml": f"{MOCK_PIPELINE}#step1", "project": "msproc", "campaign": "c1",
        "payload": {"payloadName": "c1_step1_group1", "butlerConfig": str(repo),
                    "inCollection": ",".join(INPUT_COLLECTIONS),
                    "dataQuery": "instrument = 'MockCam' AND visit = 1", "output": "u/msproc/c1/step1/group1"},
        "requestMemory": 2048, "finalJob": {"queue": "SLAC_Rubin_Merge"},
    })
    values = dict(workflow_name=name, site="SLAC", repo=str(repo), step="step1", pipeline=str(MOCK_PIPELINE),
                  inputs=list(INPUT_COLLECTIONS), output="u/msproc/c1/step1/group1", output_run=output_run,
                  step_chain="u/msproc/c1/step1", data_query="instrument = 'MockCam' AND visit = 1",
                  work_dir=str(tmp_path / "campaigns" / name), memory_mb=5000, bps_yaml=bps_yaml)
    site = Site.objects.filter(code="SLAC").first()  # as the orchestration fills it in (submission_for)
    values.update(site_fields(site, values["memory_mb"]) if site else {})
    values.update(kw)
    return Submission(**values)


@pytest.fixture
def slac(db):
    return SiteFactory(code="SLAC", compute_site="SLAC", compute_cloud="US", queue_prefix="SLAC")


def ref(name, request_id):
    return JobRef(name, {"request_id": request_id}, "")


def test_it_submits_through_the_plugin_and_never_twice(panda, slac, hub_repo, tmp_path, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    backend = PandaExecutionBackend()
    sub = submission(tmp_path, hub_repo)

    ids = backend.submit(sub)

    assert ids["workflow_name"] == sub.workflow_name
    request = panda.requests[ids["request_id"]]
    assert request.name == sub.workflow_name
    assert [t.name for t in request.tasks] == [f"{sub.workflow_name}_01_pipetaskInit_01",
                                               f"{sub.workflow_name}_02_isr_01",
                                               f"{sub.workflow_name}_03_calibrateImage_01",
                                               f"{sub.workflow_name}_04_finalJob_01"]
    assert ids["monitor_url"] == f"https://panda-mon.example.org/idds/wfprogress/?reqid={ids['request_id']}"
    assert len(ids["task_ids"]) == 4
    config = yaml.safe_load((tmp_path / "campaigns" / sub.workflow_name / "submit-panda.yaml").read_text())
    assert (config["computeSite"], config["computeCloud"], config["queue"]) == ("SLAC", "US", "SLAC_Rubin_8G")
    assert config["payload"]["outputRun"] == sub.output_run

    # A retried task: the same ids, from the marker file, without asking PanDA.
    panda.reset_calls()
    assert backend.submit(sub) == ids
    assert panda.relay_calls() == []
    # Even without the marker (another worker, lost disk): found by name, not submitted again.
    os.remove(tmp_path / "campaigns" / sub.workflow_name / "panda.json")
    assert backend.submit(sub)["request_id"] == ids["request_id"]
    assert panda.relay_calls("submit") == []
    assert [r.name for r in panda.requests.values()].count(sub.workflow_name) == 1

    # The token went to PanDA (the fake checks it) but never into logs, output or the ids.
    out = capsys.readouterr()
    for text in (caplog.text, out.out, out.err, json.dumps(ids)):
        assert TOKEN not in text


def test_it_refuses_an_output_run_that_exists(panda, slac, hub_repo, tmp_path):
    from lsst.daf.butler import Butler, CollectionType

    with Butler.from_config(str(hub_repo), writeable=True) as butler:
        butler.collections.register("u/msproc/c1/step1/group9/attempt1", CollectionType.RUN)
    sub = submission(tmp_path, hub_repo, name="c1-step1-g9-a1", output_run="u/msproc/c1/step1/group9/attempt1")
    with pytest.raises(BackendError, match="already exists") as raised:
        PandaExecutionBackend().submit(sub)
    assert raised.value.permanent
    assert panda.relay_calls("submit") == []


def test_it_refuses_a_site_that_is_not_online(panda, slac, tmp_path):
    slac.status = SiteStatus.OFFLINE
    slac.save()
    with pytest.raises(BackendError, match="SLAC is offline") as raised:
        PandaExecutionBackend().submit(submission(tmp_path, "/nowhere"))
    assert raised.value.permanent
    assert panda.calls == []


def test_it_takes_the_site_from_the_submission_without_reading_the_database(panda, tmp_path,
                                                                           django_assert_num_queries):
    sub = submission(tmp_path, "/nowhere", site_status="draining")  # no Site row: the submission carries it
    with django_assert_num_queries(0), pytest.raises(BackendError, match="SLAC is draining") as raised:
        PandaExecutionBackend().submit(sub)
    assert raised.value.permanent
    assert panda.calls == []


def test_it_fails_cleanly_without_a_token(panda, slac, settings, tmp_path):
    settings.MSPROC_PANDA_TOKEN_FILE = str(tmp_path / "no-such-token")
    with pytest.raises(BackendError, match="token") as raised:
        PandaExecutionBackend().submit(submission(tmp_path, "/nowhere"))
    assert raised.value.permanent
    with pytest.raises(BackendError):
        PandaExecutionBackend().poll([ref("wf", 1)])


def test_submit_while_panda_is_unreachable_is_a_transient_error(panda, slac, tmp_path):
    panda.make_unreachable()
    try:
        with pytest.raises(BackendError) as raised:
            PandaExecutionBackend().submit(submission(tmp_path, "/nowhere", name="c1-step1-g2-a1"))
        assert not raised.value.permanent
        assert not (tmp_path / "campaigns" / "c1-step1-g2-a1" / "panda.json").exists()
    finally:
        panda.make_reachable()


def test_it_polls_many_jobs_with_a_bounded_number_of_calls(panda):
    names = [f"poll-{n}" for n in range(12)]
    ids = {name: panda.add_request(name) for name in names}
    panda.finish_all(ids["poll-0"])
    panda.set_request(ids["poll-1"], "SubFinished")
    panda.set_task(ids["poll-1"], "isr", "SubFinished", total=2, processed=1, failed=1, errors=["ValueError: bad"])
    panda.reset_calls()

    statuses = PandaExecutionBackend().poll([ref(name, ids[name]) for name in names])

    assert statuses["poll-0"].state == "succeeded"
    assert statuses["poll-1"].state == "partial"
    assert statuses["poll-1"].external_ids["tasks"]["isr"] == {"status": "SubFinished", "expected": 2,
                                                               "succeeded": 1, "failed": 1}
    assert statuses["poll-0"].external_ids["tasks"]["finalJob"]["status"] == "Finished"
    assert {statuses[name].state for name in names[2:]} == {"running"}
    # Never polled before: no change feed; one status call per request, one error call per task with failed jobs
    assert panda.feed_calls() == 0
    assert panda.relay_calls("get_requests") == ["get_requests"] * len(names)
    assert panda.relay_calls("get_contents_output_ext") == ["get_contents_output_ext"]
    assert len(panda.calls) == len(names) + 1


@pytest.mark.parametrize(("request_status", "tasks", "state"), [
    ("Transforming", {}, "running"),
    ("Suspended", {}, "held"),
    ("Finished", {}, "succeeded"),
    ("SubFinished", {"isr": ("SubFinished", 2, 1, 1)}, "partial"),
    ("Failed", {"pipetaskInit": ("Failed", 1, 0, 1)}, "failed"),
    ("Failed", {"pipetaskInit": ("Finished", 1, 1, 0), "isr": ("Finished", 2, 2, 0),
                "calibrateImage": ("Finished", 2, 2, 0), "finalJob": ("Failed", 1, 0, 1)}, "partial"),
    ("Cancelled", {}, "failed"),
])
def test_it_maps_panda_states(panda, request_status, tasks, state):
    request_id = panda.add_request(f"map-{request_status}-{state}")
    panda.set_request(request_id, request_status)
    for label, (status, total, processed, failed) in tasks.items():
        panda.set_task(request_id, label, status, total=total, processed=processed, failed=failed)
    status = PandaExecutionBackend().poll([ref("wf", request_id)])["wf"]
    assert status.state == state


def test_it_fetches_the_errors_of_failed_jobs(panda):
    from campaigns.orchestration import match_rule
    from tests.factories import ErrorRuleFactory

    request_id = panda.add_request("errors-wf", quanta=4)
    panda.set_request(request_id, "SubFinished")
    panda.set_task(request_id, "pipetaskInit", "Finished", processed=1)
    panda.set_task(request_id, "isr", "SubFinished", processed=2, failed=2,
                   errors=["lsst.pipe.base.NoWorkFound: no overlap", "MemoryError: out of memory"])
    panda.set_task(request_id, "calibrateImage", "Finished", processed=4)

    status = PandaExecutionBackend().poll([ref("errors-wf", request_id)])["errors-wf"]

    assert status.state == "partial"
    assert (status.expected, status.succeeded, status.failed) == (8, 6, 2)
    assert "isr: MemoryError: out of memory (exe error 1)" in status.error
    assert "isr: lsst.pipe.base.NoWorkFound: no overlap" in status.error
    rule = ErrorRuleFactory(pattern="MemoryError")
    assert match_rule(status.error, [rule]) == rule


def test_poll_while_panda_is_unreachable_raises_and_changes_nothing(panda):
    request_id = panda.add_request("down-wf")
    panda.make_unreachable()
    try:
        with pytest.raises(BackendError) as raised:
            PandaExecutionBackend().poll([ref("down-wf", request_id)])
        assert not raised.value.permanent
    finally:
        panda.make_reachable()
    assert PandaExecutionBackend().poll([ref("down-wf", request_id)])["down-wf"].state == "running"


def test_cancel_aborts_the_request_through_the_plugin(panda):
    request_id = panda.add_request("cancel-wf")
    PandaExecutionBackend().cancel(ref("cancel-wf", request_id))
    assert panda.requests[request_id].status == "Cancelled"
    assert panda.relay_calls() == ["abort"]
    assert PandaExecutionBackend().poll([ref("cancel-wf", request_id)])["cancel-wf"].state == "failed"


def test_restart_retries_the_request_through_the_plugin(panda):
    request_id = panda.add_request("retry-wf")
    panda.set_request(request_id, "SubFinished")
    panda.set_task(request_id, "isr", "SubFinished", total=2, processed=1, failed=1)
    PandaExecutionBackend().restart(ref("retry-wf", request_id))
    assert panda.requests[request_id].status == "Transforming"


def test_tasks_created_after_the_submit_are_reported_by_the_next_poll(panda, slac, hub_repo, tmp_path):
    panda.tasks_after_submit = True  # real iDDS makes the PanDA tasks after submit returned
    backend = PandaExecutionBackend()
    ids = backend.submit(submission(tmp_path, hub_repo, name="c1-step1-g4-a1",
                                    output_run="u/msproc/c1/step1/group4/attempt1"))
    assert ids["task_ids"] == []
    job = JobRef("c1-step1-g4-a1", ids, "")
    first = backend.poll([job])["c1-step1-g4-a1"]
    assert "task_ids" not in first.external_ids  # nothing new yet
    assert isinstance(first.external_ids["polled_at"], int) and first.external_ids["settling"] is False

    created = panda.create_tasks(ids["request_id"])

    # Still without task ids, the job is polled in full (the change feed cannot vouch for it) and learns them.
    job = JobRef(job.workflow_name, {**ids, **first.external_ids}, "")
    status = backend.poll([job])["c1-step1-g4-a1"]
    assert status.external_ids["task_ids"] == sorted(task.workload_id for task in created)
    known = JobRef(job.workflow_name, {**job.external_ids, **status.external_ids}, "")
    again = backend.poll([known])["c1-step1-g4-a1"]  # the tasks are new: the change feed shows them
    assert "task_ids" not in again.external_ids  # unchanged: nothing to store but the poll time


def test_it_waits_for_input_collections_that_are_not_at_the_site_yet(panda, slac, hub_repo, tmp_path):
    from lsst.daf.butler import Butler, CollectionType

    arriving = "u/msproc/c1/step0"
    sub = submission(tmp_path, hub_repo, name="c1-step1-g5-a1", output_run="u/msproc/c1/step1/group5/attempt1",
                     inputs=[arriving, *INPUT_COLLECTIONS])
    with pytest.raises(BackendError, match=f"input collection {arriving} missing at SLAC") as raised:
        PandaExecutionBackend().submit(sub)
    assert not raised.value.permanent  # the job stays prepared; the movement may still be arriving
    assert panda.relay_calls("submit") == []
    assert not (tmp_path / "campaigns" / sub.workflow_name / "panda.json").exists()

    with Butler.from_config(str(hub_repo), writeable=True) as butler:  # the movement has landed
        butler.collections.register(arriving, CollectionType.RUN)
    assert PandaExecutionBackend().submit(sub)["request_id"] in panda.requests


def test_input_check_is_skipped_when_the_repository_is_not_reachable_from_here(tmp_path):
    from campaigns.backends.panda.workflow import check_repository

    check_repository(str(tmp_path / "no-repo"), "u/run", ["u/not/there"], "SLAC")  # no error: PanDA will tell


def test_a_retry_after_an_outage_reuses_the_prepared_workflow(panda, slac, hub_repo, tmp_path, monkeypatch):
    import lsst.ctrl.bps.drivers as drivers

    prepared = []
    real_prepare = drivers.prepare_driver

    def counting_prepare(*args, **kwargs):
        prepared.append(args)
        return real_prepare(*args, **kwargs)

    monkeypatch.setattr(drivers, "prepare_driver", counting_prepare)
    sub = submission(tmp_path, hub_repo, name="c1-step1-g6-a1", output_run="u/msproc/c1/step1/group6/attempt1")
    backend = PandaExecutionBackend()
    # PanDA goes away after the name lookup: the quantum graph is built, the submit fails.
    panda.make_unreachable()
    monkeypatch.setattr(PandaExecutionBackend, "_find_request", lambda self, config, name: None)
    try:
        with pytest.raises(BackendError) as raised:
            backend.submit(sub)
        assert not raised.value.permanent
    finally:
        panda.make_reachable()
    assert len(prepared) == 1
    assert (tmp_path / "campaigns" / sub.workflow_name / "panda-prepared.pickle").exists()

    ids = backend.submit(sub)

    assert len(prepared) == 1  # not prepared again
    request = panda.requests[ids["request_id"]]
    assert request.name == sub.workflow_name and len(request.tasks) == 4
    assert not (tmp_path / "campaigns" / sub.workflow_name / "panda-prepared.pickle").exists()  # PanDA has it now


def test_a_stale_or_broken_prepared_workflow_is_not_reused(tmp_path):
    from campaigns.backends.panda import workflow as panda_workflow

    cache = tmp_path / "campaigns" / "c1-step1-g7-a1" / panda_workflow.PREPARED_FILE
    cache.parent.mkdir(parents=True)
    panda_workflow.save_prepared(cache, "digest-of-another-config", {"stale": True}, object)
    assert panda_workflow.load_prepared(cache, "digest-of-this-config") is None
    cache.write_bytes(b"truncated")
    assert panda_workflow.load_prepared(cache, "digest-of-another-config") is None


def test_a_regional_group_s_quanta_reach_bps_as_a_data_id_table(panda, slac, hub_repo, tmp_path):
    from astropy.table import Table

    from stack.pipetask import DATA_ID_TABLE_FILE

    sub = submission(tmp_path, hub_repo, name="c1-step1-g2-a1", output_run="u/msproc/c1/step1/group2/attempt1",
                     data_id_table={"instrument": ["MockCam"], "visit": [1]}, dataset_query_constraint="off")
    ids = PandaExecutionBackend().submit(sub)

    work_dir = tmp_path / "campaigns" / sub.workflow_name
    config = yaml.safe_load((work_dir / "submit-panda.yaml").read_text())
    assert config["extraQgraphOptions"] == (f"--data-id-table {work_dir / DATA_ID_TABLE_FILE} "
                                            "--dataset-query-constraint off")
    assert Table.read(work_dir / DATA_ID_TABLE_FILE)["visit"].tolist() == [1]
    assert panda.requests[ids["request_id"]].name == sub.workflow_name  # BPS built the graph with it
