"""The iDDS -> msproc state mapping, on rows shaped as PanDA's relay returns them."""

from __future__ import annotations

import pytest

from campaigns.backends.panda.states import summarize, task_label


def rows(request_status: str, tasks: dict[str, tuple[str, int, int, int]]):
    from idds.common.constants import RequestStatus, TransformStatus

    out = []
    for number, (label, (status, total, processed, failed)) in enumerate(tasks.items(), start=1):
        out.append({
            "request_id": 7, "name": "wf", "username": "u", "status": RequestStatus[request_status].to_dict(),
            "transform_id": number, "transform_workload_id": 100 + number,
            "transform_name": f"wf_{number:02d}_{label}_01",
            "transform_status": TransformStatus[status].to_dict(), "output_total_files": total,
            "output_processed_files": processed, "output_failed_files": failed,
        })
    return out or [{"request_id": 7, "name": "wf", "status": RequestStatus[request_status].to_dict(),
                    "transform_id": None}]


OK = ("Finished", 1, 1, 0)


@pytest.mark.parametrize(("request_status", "tasks", "state"), [
    ("Transforming", {"pipetaskInit": OK, "isr": ("Transforming", 4, 1, 0)}, "running"),
    ("New", {}, "running"),
    ("Suspended", {"pipetaskInit": OK, "isr": ("Suspended", 4, 1, 0)}, "held"),
    ("Finished", {"pipetaskInit": OK, "isr": ("Finished", 4, 4, 0), "finalJob": OK}, "succeeded"),
    ("SubFinished", {"pipetaskInit": OK, "isr": ("SubFinished", 4, 3, 1), "finalJob": OK}, "partial"),
    ("Failed", {"pipetaskInit": ("Failed", 1, 0, 1), "isr": ("Failed", 4, 0, 0), "finalJob": OK}, "failed"),
    ("SubFinished", {"pipetaskInit": ("Failed", 1, 0, 1), "isr": ("Finished", 4, 0, 0)}, "failed"),
    ("Failed", {"pipetaskInit": OK, "isr": ("Finished", 4, 4, 0), "finalJob": ("Failed", 1, 0, 1)}, "partial"),
    ("Failed", {"pipetaskInit": OK, "isr": ("Failed", 4, 0, 4), "finalJob": ("Failed", 1, 0, 1)}, "failed"),
    ("Expired", {"pipetaskInit": OK, "isr": ("Expired", 4, 0, 0)}, "failed"),
    ("Cancelled", {"pipetaskInit": OK, "isr": ("Cancelled", 4, 1, 0)}, "failed"),
])
def test_it_maps_idds_states(request_status, tasks, state):
    assert summarize(7, rows(request_status, tasks)).state == state


def test_it_counts_payload_quanta_only():
    summary = summarize(7, rows("SubFinished", {"pipetaskInit": OK, "isr": ("SubFinished", 4, 3, 1),
                                                "calibrateImage": ("SubFinished", 3, 2, 0), "finalJob": OK}))
    assert (summary.expected, summary.succeeded, summary.failed) == (7, 5, 1)
    assert [t.label for t in summary.failed_tasks] == ["isr", "calibrateImage"]


def test_it_reports_a_request_that_is_not_there_as_missing():
    assert summarize(7, []).state == "missing"


def test_task_labels_drop_the_workflow_prefix_and_chunk():
    assert task_label("dp2_1-step1-g3-a1_02_calibrateImage_07") == "calibrateImage"


@pytest.mark.parametrize(("request_status", "tasks", "settling"), [
    ("Transforming", {"pipetaskInit": OK, "isr": ("SubFinished", 4, 3, 1), "finalJob": ("Failed", 1, 0, 1)}, True),
    ("Transforming", {"pipetaskInit": OK, "isr": ("Cancelled", 4, 1, 0)}, True),
    ("Transforming", {"pipetaskInit": OK, "isr": ("Transforming", 4, 1, 0)}, False),  # still running
    ("Transforming", {}, False),  # no task yet: nothing has ended
    ("Finished", {"pipetaskInit": OK, "isr": ("Finished", 4, 4, 0)}, False),  # iDDS has decided
    ("SubFinished", {"pipetaskInit": OK, "isr": ("SubFinished", 4, 3, 1)}, False),
])
def test_a_request_whose_tasks_all_ended_is_settling_until_idds_ends_it(request_status, tasks, settling):
    assert summarize(7, rows(request_status, tasks)).settling is settling
