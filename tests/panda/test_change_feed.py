"""Polling through PanDA's change feed: one feed call per tick, then iDDS only for the requests that changed.

The real plugin and panda-client against the fake server. A "tick" is one ``poll`` of a fresh backend (the
change-feed answer is shared for FEED_REUSE_SECONDS by one backend instance); ``fake.age`` moves every task's
modification time into the past, i.e. "nothing changed since the last poll".
"""

from __future__ import annotations

import logging
import time

import pytest

from campaigns.backends.base import BackendError, JobRef, JobStatus
from campaigns.backends.panda import backend as panda_backend
from campaigns.backends.panda.backend import PandaExecutionBackend
from campaigns.backends.panda.client import activate
from tests.panda.fake_server import FakePandaServer

pytestmark = pytest.mark.django_db


def tick(jobs: list[JobRef], backend: PandaExecutionBackend | None = None) -> dict[str, JobStatus]:
    return (backend or PandaExecutionBackend()).poll(jobs)


def stored(jobs: list[JobRef], statuses: dict[str, JobStatus]) -> list[JobRef]:
    """The jobs as the orchestration keeps them: external ids a poll returned merged into the job's."""
    return [JobRef(job.workflow_name, {**job.external_ids, **(statuses[job.workflow_name].external_ids or {})}
                   if job.workflow_name in statuses else job.external_ids, job.work_dir) for job in jobs]


def polled_jobs(panda: FakePandaServer, names: list[str]) -> tuple[dict[str, int], list[JobRef]]:
    """Requests of ``names``, each polled once in full; then nothing changes for ten minutes."""
    ids = {name: panda.add_request(name) for name in names}
    jobs = [JobRef(name, {"request_id": ids[name], "task_ids": []}, "") for name in names]
    jobs = stored(jobs, tick(jobs))
    panda.age(600)
    panda.reset_calls()
    return ids, jobs


def test_a_tick_over_quiet_running_jobs_costs_one_feed_call(panda):
    names = [f"quiet-{n}" for n in range(12)]
    ids = {name: panda.add_request(name) for name in names}
    jobs = [JobRef(name, {"request_id": ids[name], "task_ids": []}, "") for name in names]

    first = tick(jobs)  # never polled: each in full, no feed call needed

    assert panda.feed_calls() == 0
    assert panda.relay_calls() == ["get_requests"] * 12
    for name in names:
        ids_learnt = first[name].external_ids
        assert ids_learnt["task_ids"] == [task.workload_id for task in panda.requests[ids[name]].tasks]
        assert abs(ids_learnt["polled_at"] - time.time()) < 60 and ids_learnt["settling"] is False
    jobs = stored(jobs, first)
    panda.age(600)
    panda.reset_calls()

    assert tick(jobs) == {}  # every job unchanged: left out of the answer, the orchestration keeps them as they are
    assert panda.feed_calls() == 1
    assert panda.relay_calls() == []
    assert len(panda.calls) == 1


def test_only_the_jobs_that_changed_are_polled_in_full(panda):
    names = [f"changed-{n}" for n in range(12)]
    ids, jobs = polled_jobs(panda, names)
    panda.finish_all(ids["changed-0"])
    panda.set_request(ids["changed-1"], "SubFinished")
    panda.set_task(ids["changed-1"], "isr", "SubFinished", total=2, processed=1, failed=1, errors=["ValueError: bad"])

    statuses = tick(jobs)

    assert set(statuses) == {"changed-0", "changed-1"}
    assert statuses["changed-0"].state == "succeeded"
    assert statuses["changed-1"].state == "partial"
    assert "isr: ValueError: bad" in statuses["changed-1"].error
    assert panda.feed_calls() == 1
    assert sorted(panda.relay_calls()) == ["get_contents_output_ext", "get_requests", "get_requests"]
    assert len(panda.calls) == 4


def test_a_task_change_alone_is_enough_to_poll_the_request(panda):
    ids, jobs = polled_jobs(panda, ["task-change-0", "task-change-1"])
    panda.set_task(ids["task-change-1"], "isr", "Transforming", total=2, processed=1)

    statuses = tick(jobs)

    assert set(statuses) == {"task-change-1"}
    assert statuses["task-change-1"].state == "running"
    assert statuses["task-change-1"].succeeded == 1
    assert panda.relay_calls() == ["get_requests"]


def test_jobs_never_polled_or_without_task_ids_are_polled_in_full(panda):
    ids, quiet = polled_jobs(panda, ["full-quiet-0", "full-quiet-1", "full-quiet-2"])
    never = panda.add_request("full-never")
    no_tasks = panda.add_request("full-no-tasks", labels=())  # iDDS has not created the tasks yet
    panda.age(600)
    panda.reset_calls()
    jobs = [*quiet, JobRef("full-never", {"request_id": never, "task_ids": []}, ""),
            JobRef("full-no-tasks", {"request_id": no_tasks, "task_ids": [], "polled_at": int(time.time()),
                                     "settling": False}, "")]

    statuses = tick(jobs)

    assert set(statuses) == {"full-never", "full-no-tasks"}
    assert {status.state for status in statuses.values()} == {"running"}
    assert panda.feed_calls() == 1
    assert panda.relay_calls() == ["get_requests", "get_requests"]


def test_a_job_not_polled_in_full_for_a_while_is_polled_though_the_feed_shows_nothing(panda, settings):
    settings.MSPROC_PANDA_FULL_POLL_SECONDS = 900
    ids, jobs = polled_jobs(panda, ["net-fresh", "net-stale"])
    panda.set_request(ids["net-stale"], "Suspended")  # a change the feed no longer shows ...
    panda.age(3600)
    panda.reset_calls()
    stale = jobs[1]
    jobs[1] = JobRef(stale.workflow_name, {**stale.external_ids, "polled_at": int(time.time()) - 901}, "")

    statuses = tick(jobs)

    assert set(statuses) == {"net-stale"}  # ... found by the full poll of the safety net
    assert statuses["net-stale"].state == "held"
    assert panda.feed_calls() == 1
    assert panda.relay_calls() == ["get_requests"]


def test_full_poll_seconds_zero_polls_everything_in_full_without_the_feed(panda, settings):
    ids, jobs = polled_jobs(panda, ["zero-0", "zero-1", "zero-2"])
    settings.MSPROC_PANDA_FULL_POLL_SECONDS = 0

    statuses = tick(jobs)

    assert set(statuses) == {"zero-0", "zero-1", "zero-2"}
    assert panda.feed_calls() == 0
    assert panda.relay_calls() == ["get_requests"] * 3


def test_a_settling_request_is_polled_every_tick_until_idds_ends_it(panda):
    ids, jobs = polled_jobs(panda, ["settle-other", "settle-wf"])
    request_id = ids["settle-wf"]
    for label, total in (("pipetaskInit", 1), ("isr", 2), ("calibrateImage", 2), ("finalJob", 1)):
        panda.set_task(request_id, label, "Finished", total=total, processed=total)

    statuses = tick(jobs)  # the tasks changed: polled in full; iDDS has not set the request status yet

    assert set(statuses) == {"settle-wf"}
    assert statuses["settle-wf"].state == "running"
    assert statuses["settle-wf"].external_ids["settling"] is True
    jobs = stored(jobs, statuses)

    for _ in range(2):  # nothing in the feed, but a settling request is polled in full, tick after tick
        panda.age(600)
        panda.reset_calls()
        statuses = tick(jobs)
        assert set(statuses) == {"settle-wf"}
        assert statuses["settle-wf"].external_ids["settling"] is True
        assert panda.relay_calls() == ["get_requests"]
        jobs = stored(jobs, statuses)

    panda.requests[request_id].status = "Finished"  # iDDS ends the request without touching any task
    panda.reset_calls()
    statuses = tick(jobs)
    assert statuses["settle-wf"].state == "succeeded"
    assert statuses["settle-wf"].external_ids["settling"] is False
    jobs = stored(jobs, statuses)

    panda.reset_calls()
    assert tick(jobs) == {}  # settled: back to the feed
    assert panda.relay_calls() == []


def test_a_failing_feed_polls_every_job_in_full(panda, caplog):
    caplog.set_level(logging.WARNING, logger="campaigns.backends.panda")
    names = [f"feed-down-{n}" for n in range(5)]
    ids, jobs = polled_jobs(panda, names)
    panda.finish_all(ids["feed-down-3"])
    panda.age(600)  # the change is invisible to the feed, too: only a full poll finds it
    panda.reset_calls()
    panda.feed_failure = "database error in the PanDA server"

    statuses = tick(jobs)

    assert set(statuses) == set(names)
    assert statuses["feed-down-3"].state == "succeeded"
    assert panda.feed_calls() == 1
    assert panda.relay_calls() == ["get_requests"] * 5
    assert "PanDA change feed: failed" in caplog.text and "polling all 5 jobs in full" in caplog.text


def test_a_feed_that_cannot_be_reached_loses_nothing(panda):
    ids, jobs = polled_jobs(panda, ["outage-0", "outage-1", "outage-2"])
    panda.make_unreachable()
    try:
        panda.finish_all(ids["outage-1"])  # finishes while msproc cannot see PanDA
        with pytest.raises(BackendError) as raised:
            tick(jobs)
        assert not raised.value.permanent
    finally:
        panda.make_reachable()
    panda.reset_calls()

    statuses = tick(jobs)  # the jobs kept their poll time: the feed still covers the change

    assert set(statuses) == {"outage-1"}
    assert statuses["outage-1"].state == "succeeded"
    assert panda.feed_calls() == 1
    assert panda.relay_calls() == ["get_requests"]


def test_a_feed_answer_at_the_limit_may_be_truncated_so_every_job_is_polled_in_full(panda, settings, caplog):
    caplog.set_level(logging.WARNING, logger="campaigns.backends.panda")
    names = [f"truncated-{n}" for n in range(5)]
    ids, jobs = polled_jobs(panda, names)
    settings.MSPROC_PANDA_FEED_LIMIT = 3
    panda.finish_all(ids["truncated-0"])  # four tasks changed: more than the feed returns

    statuses = tick(jobs)

    assert set(statuses) == set(names)
    assert statuses["truncated-0"].state == "succeeded"
    assert {statuses[name].state for name in names[1:]} == {"running"}
    assert panda.feed_calls() == 1
    assert panda.relay_calls() == ["get_requests"] * 5
    assert "may be truncated" in caplog.text


def test_the_poll_batches_of_one_tick_share_one_feed_call(panda, monkeypatch):
    ids, jobs = polled_jobs(panda, [f"memo-{n}" for n in range(6)])
    polled_at = min(job.external_ids["polled_at"] for job in jobs)  # one tick: the same start for every batch
    jobs = [JobRef(job.workflow_name, {**job.external_ids, "polled_at": polled_at}, "") for job in jobs]
    backend = PandaExecutionBackend()

    assert tick(jobs[:3], backend) == {}
    assert tick(jobs[3:], backend) == {}
    assert panda.feed_calls() == 1

    # A batch whose jobs were polled longer ago needs an earlier start than the one fetched: a new call.
    older = [JobRef(job.workflow_name, {**job.external_ids, "polled_at": job.external_ids["polled_at"] - 300}, "")
             for job in jobs[:2]]
    assert tick(older, backend) == {}
    assert panda.feed_calls() == 2

    monkeypatch.setattr(panda_backend, "FEED_REUSE_SECONDS", 0)  # past the reuse window: asked again
    panda.finish_all(ids["memo-4"])
    assert set(tick(jobs, backend)) == {"memo-4"}
    assert panda.feed_calls() == 3


def test_a_feed_row_whose_time_cannot_be_read_counts_as_a_change(panda, monkeypatch):
    import pandaclient.Client as panda_client

    ids, jobs = polled_jobs(panda, ["odd-time-0", "odd-time-1"])
    rows = [{"jediTaskID": 1, "reqID": ids["odd-time-1"], "status": "running", "modificationTime": "yesterday-ish"},
            {"jediTaskID": 2, "reqID": ids["odd-time-0"], "status": "running",
             "modificationTime": "2001-01-01 00:00:00"}]
    monkeypatch.setattr(panda_client, "get_tasks_detailed_info_since", lambda **kwargs: (0, rows))

    statuses = tick(jobs)

    assert set(statuses) == {"odd-time-1"}
    assert panda.relay_calls() == ["get_requests"]


def test_the_fake_feed_answers_like_panda(panda, settings):
    """What panda-client's own call gets from the fake: JEDI rows, newest first, filtered, capped, datetimes decoded."""
    import datetime as dt

    import pandaclient.Client as panda_client

    old = panda.add_request("fake-feed-old")
    panda.age(600)
    new = panda.add_request("fake-feed-new")
    panda.set_task(new, "isr", "SubFinished", total=2, processed=1, failed=1)
    panda.set_task(new, "calibrateImage", "Failed", total=2, failed=2)
    activate(PandaExecutionBackend().config)
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=300)).strftime("%Y-%m-%d %H:%M:%S")

    status, rows = panda_client.get_tasks_detailed_info_since(since=since, n_tasks=100)

    assert status == 0
    assert {row["reqID"] for row in rows} == {new}  # the old request's tasks were modified before `since`
    assert [row["modificationTime"] for row in rows] == sorted((row["modificationTime"] for row in rows),
                                                               reverse=True)
    assert all(isinstance(row["modificationTime"], dt.datetime) for row in rows)
    by_name = {row["taskName"].split("_")[-2]: row for row in rows}
    assert {label: row["status"] for label, row in by_name.items()} == {
        "pipetaskInit": "running", "isr": "finished", "calibrateImage": "failed", "finalJob": "running"}
    assert {row["jediTaskID"] for row in rows} == {task.workload_id for task in panda.requests[new].tasks}
    assert {row["userName"] for row in rows} == {"msproc"}

    assert len(panda_client.get_tasks_detailed_info_since(since=since, n_tasks=2)[1]) == 2
    status, rows = panda_client.get_tasks_detailed_info_since(filters={"reqID": old})
    assert status == 0 and {row["reqID"] for row in rows} == {old} and len(rows) == 4
    assert panda.feed_calls() == 3

    panda.feed_failure = "database error"
    assert panda_client.get_tasks_detailed_info_since(since=since) == (255, None)
