"""Celery tasks of the campaigns app: thin, take ids, safe to run twice; logic lives in orchestration."""

from __future__ import annotations

import socket
import time

from celery import shared_task

from core.locks import singleton

from . import orchestration, recurring, submission
from .backends import BackendError
from .liveness import record_heartbeat


@shared_task(name="campaigns.tasks.reconcile", ignore_result=True)
def reconcile() -> dict:
    """One reconciler tick (beat runs it every MSPROC_RECONCILE_SECONDS)."""
    with singleton("msproc-reconcile") as acquired:
        if not acquired:
            return {"skipped": "another reconciler is running"}
        started = time.monotonic()
        report = orchestration.reconcile()
        record_heartbeat("tick", "reconcile", details={
            "host": socket.gethostname(), "seconds": round(time.monotonic() - started, 3),
            "groups_ready": report.groups_ready, "jobs_prepared": len(report.jobs_prepared),
            "jobs_finished": report.jobs_finished})
    return {"groups_ready": report.groups_ready, "jobs_prepared": len(report.jobs_prepared),
            "jobs_finished": report.jobs_finished, "campaigns_failing": sorted(report.faults)}


@shared_task(name="campaigns.tasks.submit_jobs", ignore_result=True, autoretry_for=(BackendError,),
             retry_backoff=True, retry_backoff_max=300, max_retries=10)
def submit_jobs(job_ids: list[int]) -> None:
    """Submit a batch of prepared jobs, each once; a second delivery finds them submitted and does nothing.

    A transient backend error retries the batch: the jobs already running are skipped.
    """
    submission.submit_jobs(job_ids)


@shared_task(name="campaigns.tasks.submit_job", ignore_result=True, autoretry_for=(BackendError,),
             retry_backoff=True, retry_backoff_max=300, max_retries=10)
def submit_job(job_id: int) -> None:
    """Submit one prepared job once (messages queued before submissions went in batches)."""
    submission.submit_job(job_id)


@shared_task(name="campaigns.tasks.cancel_job", ignore_result=True, autoretry_for=(BackendError,),
             retry_backoff=True, retry_backoff_max=300, max_retries=10)
def cancel_job(job_id: int) -> None:
    """Cancel a rejected job's attempt at its backend; safe to run twice. Retried while the backend is unreachable."""
    submission.cancel_job(job_id)


@shared_task(name="campaigns.tasks.run_recurring", ignore_result=True)
def run_recurring(template_id: int, site: str | None = None) -> None:
    """Create and start a campaign from a template (weekly DC/RC validation), named by the date."""
    recurring.start_recurring(template_id, site)
