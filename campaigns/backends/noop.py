"""A backend that runs nothing: submits instantly, finishes on the next poll (benchmarks and tests).

Attempts whose workflow name matches ``MSPROC_NOOP_FAIL`` (a regular
expression, unset by default) finish as failed, so failure handling can be
measured too.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any

from django.conf import settings

from .base import ExecutionBackend, JobRef, JobStatus, Submission


class NoopExecutionBackend(ExecutionBackend):
    name = "noop"

    def submit(self, submission: Submission) -> dict[str, Any]:
        time.sleep(settings.MSPROC_NOOP_SUBMIT_SECONDS)  # a slow submission (fault tests)
        return {"noop": submission.workflow_name}

    def poll(self, jobs: Sequence[JobRef]) -> dict[str, JobStatus]:
        pattern = getattr(settings, "MSPROC_NOOP_FAIL", None)
        statuses = {}
        for job in jobs:
            if pattern and re.search(pattern, job.workflow_name):
                statuses[job.workflow_name] = JobStatus(state="failed", expected=1, failed=1,
                                                        error="noop: injected failure")
            else:
                statuses[job.workflow_name] = JobStatus(state="succeeded", expected=1, succeeded=1)
        return statuses

    def cancel(self, job: JobRef) -> None:
        return None
