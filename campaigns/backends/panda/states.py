"""From iDDS request rows to one workflow summary: state, quanta counts, failed tasks.

``get_requests(request_id, with_detail=True)`` returns one row per
transform (PanDA task) of the request, each carrying the request status and
the transform's status and file counts. A BPS workflow has a
``pipetaskInit`` task, one task per pipeline task label (chunked), and a
``finalJob`` task.

State mapping (first match wins):

=============================================  ===========  ==============================
iDDS request status (and tasks)                 msproc       why
=============================================  ===========  ==============================
Suspended / ToSuspend / Suspending              held         an operator or PanDA paused it
pipetaskInit Failed/SubFinished (terminal)      failed       nothing could run
Finished                                        succeeded
SubFinished / Failed, only finalJob failed      partial      outputs exist; review them
SubFinished                                     partial      some quanta failed
Failed / Expired                                failed
Cancelled                                       failed       cancelled
anything else (New, Transforming, ...)          running
=============================================  ===========  ==============================

A summary is ``settling`` when every task has ended but the request has not:
iDDS sets the request status some time later, without touching any task, so
such a request must be asked again rather than left to PanDA's change feed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FailedTask", "TaskCounts", "WorkflowSummary", "status_name", "summarize", "task_label"]

HELD = {"Suspended", "ToSuspend", "Suspending"}
FAILED = {"Failed", "Expired"}
CANCELLED = {"Cancelled"}
TERMINAL = {"Finished", "SubFinished"} | FAILED | CANCELLED
INIT_LABEL = "pipetaskInit"
FINAL_LABEL = "finalJob"
BOOKKEEPING = {INIT_LABEL, FINAL_LABEL, "customJob", "build_task"}
_CHUNK = re.compile(r"_\d+$")
_NUMBER = re.compile(r"_(\d+)_")


def status_name(value: Any) -> str:
    """Return the name of an iDDS status as JSON carries it (enum dict, name or number)."""
    if isinstance(value, Mapping):
        attributes = value.get("attributes") or {}
        return str(attributes.get("_name_") or value.get("name") or "")
    if hasattr(value, "name"):
        return str(value.name)
    return "" if value is None else str(value)


def task_label(transform_name: str) -> str:
    """Return the pipeline task label of a PanDA task name ``{workflow}_{NN}_{label}_{chunk}``.

    The same rule as the plugin's ``extract_taskname`` (text after the last
    ``_<digits>_``), without importing the plugin (which needs PanDA's
    environment), then the chunk number dropped.
    """
    name = (transform_name or "").strip().strip("'\"")
    numbers = _NUMBER.findall(name)
    if numbers:
        name = name[name.rfind(f"_{numbers[-1]}_") + len(numbers[-1]) + 2:]
    return _CHUNK.sub("", name)


@dataclass
class TaskCounts:
    """Quanta of one pipeline task label, summed over its chunks."""

    expected: int = 0
    succeeded: int = 0
    failed: int = 0
    missing: int = 0
    status: str = ""


@dataclass(frozen=True)
class FailedTask:
    """A PanDA task with failed jobs, whose error messages are worth fetching."""

    label: str
    workload_id: int
    failed: int


@dataclass
class WorkflowSummary:
    """What one iDDS request amounts to."""

    request_id: int
    state: str
    request_status: str
    expected: int = 0
    succeeded: int = 0
    failed: int = 0
    tasks: dict[str, TaskCounts] = field(default_factory=dict)
    failed_tasks: list[FailedTask] = field(default_factory=list)
    task_ids: list[int] = field(default_factory=list)
    message: str = ""
    #: Every task has ended but the request has not: iDDS sets the request status a while after its tasks end.
    settling: bool = False


def _int(row: Mapping[str, Any], key: str) -> int:
    try:
        return int(row.get(key) or 0)
    except (TypeError, ValueError):
        return 0


def summarize(request_id: int, rows: Iterable[Mapping[str, Any]]) -> WorkflowSummary:
    """Return the summary of request ``request_id`` from its ``get_requests(with_detail=True)`` rows."""
    rows = list(rows)
    if not rows:
        return WorkflowSummary(request_id, "missing", "", message=f"iDDS has no request {request_id}")
    request_status = status_name(rows[0].get("status"))
    summary = WorkflowSummary(request_id, "running", request_status)
    errors: list[str] = []
    task_statuses: list[str] = []
    for row in rows:
        if row.get("errors"):
            errors.append(str(row["errors"]))
        if row.get("transform_id") is None:
            continue  # the request's transforms are not created yet (outer join)
        label = task_label(str(row.get("transform_name") or ""))
        counts = summary.tasks.setdefault(label, TaskCounts())
        status = status_name(row.get("transform_status"))
        task_statuses.append(status)
        counts.status = status if not counts.status or status != "Finished" else counts.status
        counts.expected += _int(row, "output_total_files")
        counts.succeeded += _int(row, "output_processed_files")
        counts.failed += _int(row, "output_failed_files")
        counts.missing += _int(row, "output_missing_files")
        workload_id = row.get("transform_workload_id")
        if workload_id:
            summary.task_ids.append(int(workload_id))
        if status in {"Failed", "SubFinished"} and label != "build_task" and workload_id:
            summary.failed_tasks.append(FailedTask(label, int(workload_id), _int(row, "output_failed_files")))
    for label, counts in summary.tasks.items():
        if label in BOOKKEEPING:
            continue
        summary.expected += counts.expected
        summary.succeeded += counts.succeeded
        summary.failed += counts.failed
    summary.state = _state(request_status, summary.tasks)
    summary.settling = bool(task_statuses) and request_status not in TERMINAL and all(
        status in TERMINAL for status in task_statuses)
    summary.message = "; ".join(dict.fromkeys(errors))
    if request_status in CANCELLED and not summary.message:
        summary.message = "the PanDA workflow was cancelled"
    return summary


def _bad(counts: TaskCounts | None) -> bool:
    return counts is not None and (counts.status in FAILED | {"SubFinished"} or counts.failed > 0)


def _state(request_status: str, tasks: Mapping[str, TaskCounts]) -> str:
    if request_status in HELD:
        return "held"
    if request_status not in TERMINAL:
        return "running"
    if request_status in CANCELLED:
        return "failed"
    if _bad(tasks.get(INIT_LABEL)):
        return "failed"
    payload_bad = any(_bad(counts) for label, counts in tasks.items() if label not in BOOKKEEPING)
    if request_status == "Finished":
        return "succeeded"
    if request_status == "SubFinished":
        return "partial"
    # Failed/Expired: reviewable when only the final job (collection chaining, aggregation) failed.
    payload_ran = any(counts.succeeded for label, counts in tasks.items() if label not in BOOKKEEPING)
    if _bad(tasks.get(FINAL_LABEL)) and not payload_bad and payload_ran:
        return "partial"
    return "failed"
