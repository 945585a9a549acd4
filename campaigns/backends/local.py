"""Local execution: ``pipetask run`` against the site's own Butler repository, in a detached process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from django.conf import settings

from stack.runner import JOB_FILE, PID_FILE, RESULT_FILE

from .base import BackendError, ExecutionBackend, JobRef, JobStatus, Submission, check_submission_paths

CLAIM_FILE = "submitted"
LOG_TAIL_LINES = 60


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with path.open("rb") as stream:
            stream.seek(0, os.SEEK_END)
            stream.seek(max(stream.tell() - 64_000, 0))
            return "\n".join(stream.read().decode(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class LocalExecutionBackend(ExecutionBackend):
    """Runs each attempt with ``stack.runner`` in its own session.

    The attempt's directory is its identity: the first submit claims it with
    an exclusive file, so a task delivered twice never starts a second run.
    """

    name = "local"

    def submit(self, submission: Submission) -> dict[str, Any]:
        check_submission_paths(submission, str(settings.DATA_DIR / "campaigns"))
        work_dir = Path(submission.work_dir)
        work_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(work_dir / CLAIM_FILE, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return self._existing(work_dir)
        os.close(fd)
        payload = asdict(submission)
        payload["timeout"] = submission.timeout
        (work_dir / JOB_FILE).write_text(json.dumps(payload, indent=1))
        try:
            subprocess.run(
                [sys.executable, "-m", "stack.runner", "--detach", str(work_dir)],
                check=True, cwd=settings.BASE_DIR, timeout=60, capture_output=True,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            (work_dir / CLAIM_FILE).unlink(missing_ok=True)
            raise BackendError(f"cannot start the local runner: {exc}") from exc
        return self._existing(work_dir)

    def _existing(self, work_dir: Path) -> dict[str, Any]:
        for _ in range(50):  # the detaching runner writes its pid within milliseconds
            if (work_dir / PID_FILE).exists():
                return {"pid": int((work_dir / PID_FILE).read_text()), "work_dir": str(work_dir)}
            time.sleep(0.1)
        return {"work_dir": str(work_dir)}

    def poll(self, jobs: Sequence[JobRef]) -> dict[str, JobStatus]:
        return {job.workflow_name: self._status(job) for job in jobs}

    def _status(self, job: JobRef) -> JobStatus:
        work_dir = Path(job.work_dir)
        result_path = work_dir / RESULT_FILE
        if result_path.exists():
            result = json.loads(result_path.read_text())
            log_path = Path(result.get("log_path") or work_dir / "pipetask.log")
            errors = "\n".join(result.get("error_lines") or [])
            succeeded, failed = int(result.get("succeeded", 0)), int(result.get("failed", 0))
            if result.get("ok"):
                state = "succeeded"
            elif succeeded and (failed or result.get("blocked")):
                state = "partial"
            else:
                state = "failed"
            return JobStatus(state=state, expected=int(result.get("expected", 0)), succeeded=succeeded,
                             failed=failed, error=errors, log_tail=_tail(log_path), log_path=str(log_path))
        pid = job.external_ids.get("pid")
        if pid and _alive(int(pid)):
            return JobStatus(state="running", log_path=str(work_dir / "pipetask.log"))
        if not (work_dir / CLAIM_FILE).exists():
            return JobStatus(state="missing", error="the attempt was never started")
        return JobStatus(state="failed", error="the local runner died without leaving a result",
                         log_tail=_tail(work_dir / "pipetask.log"))

    def cancel(self, job: JobRef) -> None:
        pid = job.external_ids.get("pid")
        if pid and _alive(int(pid)):
            try:
                os.killpg(int(pid), 15)
            except ProcessLookupError:
                pass
