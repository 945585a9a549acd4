"""Submitting a group's attempt: its workflow name, its :class:`~campaigns.backends.Submission`, the BPS
YAML it sends, and the batched, leased submission and cancellation at the execution backends.

Called by the reconcile tick (:mod:`campaigns.orchestration`, which re-exports these) and the Celery tasks.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import yaml
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core import queue
from core.leases import claimable, new_holder, renewing, takeover_comment
from core.lifecycle import IllegalTransition, bulk_transition, record_event
from planning.bps import SiteInfo, render_submit_yaml
from planning.collection_names import group_collection, output_collection, run_collection, step_collection
from planning.dataflow import DataflowError, resolve_pipeline_uri
from planning.planner import Plan, PlannedGroup, PlannedStep
from sites.models import ButlerRepo, Site
from sites.queues import merge_queue, queue_for
from sites.services import report_backend_failure

from .backends import BackendError, JobRef, Submission, get_execution_backend
from .choices import Status
from .models import Campaign, Group, Job, Step
from .services import pipeline_sources

log = logging.getLogger(__name__)
S = Status


@lru_cache(maxsize=64)
def _spec_collections(spec_text: str) -> tuple[str, ...]:
    document = yaml.safe_load(spec_text) or {}
    names = list((document.get("inputs") or {}).get("collections") or [])
    for default in document.get("defaults") or []:
        names += list(default.get("collections") or [])
    return tuple(dict.fromkeys(names))


class SubmitContext:
    """What the submissions of one batch share, each read once: plan headers, earlier steps, repository roots.

    The campaign's plan is read without its group and movement lists (``plan__name``..., not the whole
    JSON, which grows with the number of groups).
    """

    PLAN_HEADER = ("name", "hub", "instrument", "skymap", "pipeline", "output_prefix")

    def __init__(self) -> None:
        self._headers: dict[int, dict] = {}
        self._earlier: dict[int, list[str]] = {}
        self._roots: dict[int, str] = {}

    def plan_header(self, campaign_id: int) -> dict:
        """Return the plan's scalar fields (name, hub, instrument, skymap, pipeline, output_prefix)."""
        if campaign_id not in self._headers:
            row = Campaign.objects.filter(pk=campaign_id).values(
                *(f"plan__{key}" for key in self.PLAN_HEADER)).first() or {}
            self._headers[campaign_id] = {key: row.get(f"plan__{key}") for key in self.PLAN_HEADER}
        return self._headers[campaign_id]

    def earlier_steps(self, step: Step) -> list[str]:
        """Return the names of the campaign's steps before ``step``, latest first."""
        if step.pk not in self._earlier:
            self._earlier[step.pk] = list(Step.objects.filter(campaign_id=step.campaign_id, order__lt=step.order)
                                          .order_by("-order").values_list("name", flat=True))
        return self._earlier[step.pk]

    def repo_root(self, site_id: int) -> str:
        if site_id not in self._roots:
            self._roots[site_id] = _repo_root(site_id)
        return self._roots[site_id]


def _repo_root(site_id: int) -> str:
    repo = ButlerRepo.objects.filter(site_id=site_id, name=settings.MSPROC_REPO_NAME).only("root_uri").first()
    return repo.root_uri if repo else ""


def workflow_name(group: Group, attempt: int) -> str:
    """Return the workflow name of a group attempt: the same on every retry of the same Celery task.

    ``{campaign name}-c{campaign id}-{step}-g{ordinal}-a{attempt}``: the id makes it unique by construction
    (names that read alike after the clean-up, ``c03 x`` and ``c03-x``, stay apart); the name is for people.
    """
    campaign = re.sub(r"[^A-Za-z0-9_-]+", "-", group.campaign.name).strip("-")[:64]
    return f"{campaign}-c{group.campaign_id}-{group.step.name}-g{group.ordinal}-a{attempt}"


def new_job(group: Group, rescue: bool) -> Job:
    out = group.campaign.output_prefix
    attempt = group.attempts
    backend = group.site.execution_backend_name()
    return Job(
        group=group, attempt=attempt, backend=backend, rescue=rescue, status=S.PREPARED,
        workflow_name=workflow_name(group, attempt),
        run_collection=run_collection(out, group.step.name, group.ordinal, attempt),
        submit_dir=str(settings.DATA_DIR / "campaigns" / str(group.campaign_id) / "jobs"
                       / workflow_name(group, attempt)),
    )


def data_id_table(group: Group, header: Mapping[str, Any]) -> dict[str, list]:
    """Return the data-ID table columns of a regional group (empty for any other group).

    Its rows are the product of the columns: each of the group's sky pixels with the instrument and each of its
    visits, and the sky map and each of its tracts (``header``: the plan's, for ``instrument`` and ``skymap``).
    """
    pixels = {dimension: values for dimension, values in group.data_ids.items() if dimension.startswith("healpix")}
    if not pixels:
        return {}
    columns: dict[str, list] = {**pixels, "instrument": [header["instrument"]]}
    if group.data_ids.get("visit"):
        columns["visit"] = list(group.data_ids["visit"])
    if group.data_ids.get("tract"):
        columns.update(skymap=[header["skymap"]], tract=list(group.data_ids["tract"]))
    return columns


def submission_for(job: Job, context: SubmitContext | None = None) -> Submission:
    """Return what the backend needs to run ``job`` (paths, collections, query, injected failures)."""
    context = context or SubmitContext()
    group = job.group
    step = group.step
    campaign = group.campaign
    out = campaign.output_prefix
    inputs = [step_collection(out, name) for name in context.earlier_steps(step)]
    inputs += list(_spec_collections(campaign.spec))
    failures = [
        {"task_label": f["task"], "where": f["where"], "exception": f.get("exception", "builtins.ValueError")}
        for f in campaign.fault_injection or []
        if f.get("step") == step.name and job.attempt in f.get("attempts", [1])
        and (not f.get("site") or f["site"] == group.site.code)
    ]
    return Submission(
        workflow_name=job.workflow_name, site=group.site.code, repo=context.repo_root(group.site_id), step=step.name,
        pipeline=resolve_pipeline_uri(context.plan_header(campaign.pk)["pipeline"] or "mock:drp", pipeline_sources()),
        inputs=inputs,
        output=group_collection(out, step.name, group.ordinal), output_run=job.run_collection,
        step_chain=step_collection(out, step.name), output_chain=output_collection(out),
        data_query=group.data_query, data_id_table=data_id_table(group, context.plan_header(campaign.pk)),
        dataset_query_constraint=step.query_constraint,
        work_dir=job.submit_dir,
        memory_mb=step.memory_mb, bps_yaml=job.bps_yaml, rescue=job.rescue, failures=failures,
        timeout=settings.MSPROC_PIPETASK_TIMEOUT, **site_fields(group.site, step.memory_mb),
    )


def site_fields(site: Site, memory_mb: int) -> dict[str, str]:
    """Return what a submission carries about its site: status, PanDA computeSite/computeCloud, and the queue
    for ``memory_mb`` (``sites.queues.queue_for``; "" without a memory request)."""
    return {"site_status": site.status, "compute_site": site.compute_site, "compute_cloud": site.compute_cloud,
            "queue": queue_for(site.queue_prefix, memory_mb)}


def submit_job(job_id: int) -> str | None:
    """Submit a prepared job to its backend (once); return the job's status, None if it is gone.

    Raises BackendError for a transient failure (the job stays prepared; the task retries).
    """
    return submit_jobs([job_id]).get(job_id)


def submit_jobs(job_ids: Sequence[int]) -> dict[int, str]:
    """Submit a batch of prepared jobs, each once; return ``{job id: status}`` of the jobs that exist.

    The jobs and what they need are read in a few queries for the whole
    batch; each backend call happens outside any transaction; the jobs the
    backends took, and their groups, then move prepared -> running
    set-based (conditional: a job another delivery already started is left
    alone, so a batch delivered twice submits once). A permanent backend
    error fails the job and its group; a transient one leaves the job
    prepared and, once the rest of the batch is recorded, is raised
    (BackendError) so the task retries the batch.
    """
    holder = new_holder()
    claimed = _claim_jobs(job_ids, holder)
    jobs = list(Job.objects.filter(pk__in=list(job_ids)).select_related(
        "group__step__stage", "group__site", "group__campaign").defer("group__campaign__plan"))
    if not claimed:
        return {job.pk: job.status for job in jobs}
    with renewing(Job, claimed, holder):
        return _submit_claimed(jobs, claimed)


def _claim_jobs(job_ids: Sequence[int], holder: str) -> list[int]:
    """Take the lease of the prepared jobs nobody works on (or whose worker died); return their ids.

    A job taken from a dead holder gets a "taken over after its worker died" Event.
    """
    now = timezone.now()
    prepared = Job.objects.filter(pk__in=list(job_ids), status=S.PREPARED)
    dead = {pk: (previous, beat) for pk, previous, beat in
            prepared.exclude(holder="").filter(claimable(now)).values_list("pk", "holder", "heartbeat_at")}
    with transaction.atomic():
        prepared.filter(claimable(now)).update(holder=holder, heartbeat_at=now)
        claimed = list(prepared.filter(holder=holder).values_list("pk", flat=True))
        for job in Job.objects.filter(pk__in=[pk for pk in claimed if pk in dead]).select_related("group"):
            record_event(job, "take_over", job.status, job.status, comment=takeover_comment(*dead[job.pk]))
    return claimed


def _submit_claimed(jobs: list[Job], claimed: Sequence[int]) -> dict[int, str]:
    statuses = {job.pk: job.status for job in jobs}
    claimed = set(claimed)
    context = SubmitContext()
    started: dict[int, dict] = {}
    rendered: dict[int, str] = {}
    failed: list[tuple[Job, str]] = []
    transient: BackendError | None = None
    for job in jobs:
        if job.pk not in claimed or job.status != S.PREPARED or job.group.campaign.status != S.RUNNING:
            continue
        if not job.bps_yaml:
            job.bps_yaml = rendered[job.pk] = render_bps_yaml(job, context)
        try:
            external_ids = get_execution_backend(job.backend).submit(submission_for(job, context))
        except BackendError as exc:
            if exc.permanent:
                failed.append((job, str(exc)))
            else:
                if transient is None:  # once per batch: the backend's service is down for all of it
                    report_backend_failure("execution", job.backend, "submit", str(exc))
                transient = transient or exc
            continue
        started[job.pk] = external_ids
    if started:
        _start_jobs({job.pk: job.group_id for job in jobs if job.pk in started}, started, rendered)
        statuses.update(Job.objects.filter(pk__in=list(started)).values_list("pk", "status"))
    for job, error in failed:
        with transaction.atomic():
            if job.pk in rendered:
                Job.objects.filter(pk=job.pk).update(bps_yaml=rendered[job.pk])
            try:
                job.fail(error)
                job.group.fail(error)
            except IllegalTransition:
                pass
        statuses[job.pk] = job.status
    if transient is not None:
        raise transient
    return statuses


def _start_jobs(groups: Mapping[int, int], external_ids: Mapping[int, dict], rendered: Mapping[int, str]) -> None:
    """Move the jobs the backends took (and their groups) prepared -> running, with one Event each."""
    now = timezone.now()
    row_values = {pk: {"external_ids": ids, "bps_yaml": rendered[pk]} if pk in rendered else {"external_ids": ids}
                  for pk, ids in external_ids.items()}
    if any("bps_yaml" not in values for values in row_values.values()):  # one statement needs the same columns
        yaml_of = dict(Job.objects.filter(pk__in=[pk for pk in row_values if pk not in rendered])
                       .values_list("pk", "bps_yaml"))
        for pk, values in row_values.items():
            values.setdefault("bps_yaml", yaml_of.get(pk, ""))
    with transaction.atomic():
        moved = bulk_transition(Job.objects.filter(pk__in=list(row_values)), "start",
                                campaign_field="group__campaign_id", row_values=row_values, submitted_at=now)
        bulk_transition(Group.objects.filter(pk__in=[groups[pk] for pk, _ in moved]), "start")
        _cancel_orphans(set(row_values) - {pk for pk, _ in moved}, external_ids)


def _cancel_orphans(job_ids: set[int], external_ids: Mapping[int, dict]) -> None:
    """Jobs an operator rejected while their submission was on its way: keep what the backend returned and
    cancel it there (the workflow would otherwise run with nobody watching)."""
    if not job_ids:
        return
    for pk in Job.objects.filter(pk__in=list(job_ids), status=S.REJECTED).values_list("pk", flat=True):
        Job.objects.filter(pk=pk).update(external_ids=external_ids[pk])
        queue.send_on_commit("campaigns.tasks.cancel_job", pk)


def cancel_job(job_id: int) -> None:
    """Cancel a rejected job's attempt at its backend. Idempotent (backends ignore what already ended).

    Raises BackendError when the backend could not be reached (the task retries); a permanent error is logged.
    """
    row = Job.objects.filter(pk=job_id, status=S.REJECTED).values_list(
        "backend", "workflow_name", "external_ids", "submit_dir").first()
    if row is None:
        return
    backend, name, ids, work_dir = row
    try:
        get_execution_backend(backend).cancel(JobRef(name, ids or {}, work_dir))
    except BackendError as exc:
        if not exc.permanent:
            report_backend_failure("execution", backend, "cancel", str(exc))
            raise
        log.warning("cancelling %s at %s failed: %s", name, backend, exc)


def render_bps_yaml(job: Job, context: SubmitContext | None = None) -> str:
    """Return the BPS submit YAML of a job's group (what a PanDA submission would send).

    Rendered from the plan's header and the step's row (not the whole plan: its group lists are not used).
    """
    context = context or SubmitContext()
    group = job.group
    site = group.site
    step = group.step
    info = SiteInfo(site.code, site.compute_site, site.compute_cloud, context.repo_root(site.pk))
    planned_group = PlannedGroup(ordinal=group.ordinal, site=site.code, data_query=group.data_query,
                                 visits=group.data_ids.get("visit", []), tracts=group.data_ids.get("tract", []))
    try:
        header = context.plan_header(group.campaign_id)
        if not header["name"]:
            raise KeyError("the campaign has no plan")
        plan = Plan(**header, sites=[], stages=[], steps=[], movements=[])
        planned_step = PlannedStep(name=step.name, stage=step.stage.name, order=step.order, scope=step.scope,
                                   level=step.level, depends_on=[], memory_mb=step.memory_mb, inputs=step.inputs,
                                   outputs=step.outputs, groups=[])
        return render_submit_yaml(plan, planned_step, planned_group, info,
                                  pipeline_yaml=resolve_pipeline_uri(plan.pipeline, pipeline_sources()),
                                  output_run=job.run_collection, queue=queue_for(site.queue_prefix, step.memory_mb),
                                  merge_queue=merge_queue(site.queue_prefix))
    except (KeyError, TypeError, ValueError, DataflowError) as exc:  # informational for local runs: never blocks
        return f"# could not render the BPS YAML: {exc}\n"
