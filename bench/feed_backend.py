"""An execution backend for bench/orchestration_scale.py's steady ticks: every attempt runs until the bench
finishes it, and the backend has a change feed naming the attempts finished since a time (as PanDA's does)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from campaigns.backends.base import Changes, ExecutionBackend, JobRef, JobStatus, Submission


class FeedBackend(ExecutionBackend):
    name = "bench-feed"
    has_change_feed = True
    #: workflow name -> when the bench finished it (epoch seconds)
    finished: dict[str, float] = {}

    @classmethod
    def finish(cls, names: Sequence[str]) -> None:
        now = time.time()
        cls.finished.update(dict.fromkeys(names, now))

    def submit(self, submission: Submission) -> dict[str, Any]:
        return {"bench": submission.workflow_name}

    def changed(self, since: float) -> Changes:
        return Changes(workflow_names=frozenset(name for name, at in self.finished.items() if at >= since))

    def poll(self, jobs: Sequence[JobRef]) -> dict[str, JobStatus]:
        return {job.workflow_name: (JobStatus(state="succeeded", expected=1, succeeded=1)
                                    if job.workflow_name in self.finished else JobStatus(state="running"))
                for job in jobs}

    def cancel(self, job: JobRef) -> None:
        return None
