"""Execution backends: where a group attempt runs (local pipetask, PanDA through BPS, no-op).

One small interface (:class:`ExecutionBackend`); implementations register
themselves by name and a site's ``execution_backend`` (or the
``MSPROC_EXECUTION_BACKEND`` setting) chooses one.
"""

from .base import (
    BackendError,
    Changes,
    ExecutionBackend,
    JobRef,
    JobStatus,
    Submission,
    get_execution_backend,
    register,
)

__all__ = ["BackendError", "Changes", "ExecutionBackend", "JobRef", "JobStatus", "Submission", "get_execution_backend",
           "register"]
