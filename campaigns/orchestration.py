"""Orchestration: the reconciler tick that moves every running campaign forward.

One tick (``reconcile``) is idempotent and safe in several workers at once:
every move is a conditional transition and rows another worker holds are
skipped. It is set-based (one query per kind of move, not per group) so a
tick stays cheap with thousands of groups. Slow I/O (submitting, polling,
transferring) happens in tasks enqueued after the state change commits.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache

import yaml
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone

from msproc.lifecycle import IllegalTransition, bulk_transition
from sites.choices import SiteStatus
from sites.models import ButlerRepo
from transfers.choices import MovementStatus
from transfers.models import Movement

from .backends import BackendError, JobRef, JobStatus, Submission, get_execution_backend
from .choices import ErrorAction, Status
from .models import Campaign, ErrorRule, Group, Job, Step

log = logging.getLogger(__name__)
S = Status
M = MovementStatus
POLL_BATCH = 500
REQUEUE_AFTER = timedelta(seconds=30)


@dataclass
class TickReport:
    """What one reconciler tick did (for logs, benchmarks and tests)."""

    steps_started: int = 0
    movements_ready: list[int] = field(default_factory=list)
    groups_ready: int = 0
    jobs_prepared: list[int] = field(default_factory=list)
    jobs_polled: int = 0
    jobs_finished: int = 0
    steps_finished: int = 0
    campaigns_finished: int = 0
    requeued_jobs: list[int] = field(default_factory=list)
    requeued_movements: list[int] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------- the tick


def reconcile() -> TickReport:
    """Advance every running campaign by one tick and return what was done."""
    report = TickReport()
    for campaign_id in Campaign.objects.filter(status=S.RUNNING).values_list("pk", flat=True):
        _start_steps(campaign_id, report)
        _ready_movements(campaign_id, report)
        _ready_groups(campaign_id, report)
    _prepare_jobs(report)
    poll_jobs(report)
    for campaign_id in Campaign.objects.filter(status__in=[S.RUNNING, S.REVIEWABLE]).values_list("pk", flat=True):
        _finish_steps(campaign_id, report)
        _finish_campaign(campaign_id, report)
    _requeue_lost(report)
    return report


def _start_steps(campaign_id: int, report: TickReport) -> None:
    blocked = Step.objects.filter(campaign_id=campaign_id, dependents=OuterRef("pk")).exclude(status=S.ACCEPTED)
    for step in Step.objects.filter(campaign_id=campaign_id, status=S.WAITING).exclude(Exists(blocked)):
        try:
            step.make_ready()
            step.start()
            report.steps_started += 1
        except IllegalTransition:
            continue


def _ready_movements(campaign_id: int, report: TickReport) -> None:
    pending_steps = Step.objects.filter(feeding_movements=OuterRef("pk")).exclude(status=S.ACCEPTED)
    pending_moves = Movement.objects.filter(followers=OuterRef("pk")).exclude(status__in=[M.DONE, M.CANCELLED])
    ready = Movement.objects.filter(campaign_id=campaign_id, status=M.PLANNED).exclude(
        Exists(pending_steps)).exclude(Exists(pending_moves))
    moved = bulk_transition(ready, "make_ready", {M.PLANNED}, M.READY)
    ids = [pk for pk, _ in moved]
    report.movements_ready += ids
    if ids:
        _enqueue_movements(ids)


def _ready_groups(campaign_id: int, report: TickReport) -> None:
    gating = Movement.objects.filter(before_step=OuterRef("step"), destination=OuterRef("site")).exclude(
        status__in=[M.DONE, M.CANCELLED])
    waiting = Group.objects.filter(campaign_id=campaign_id, status=S.WAITING, step__status=S.RUNNING,
                                   site__status=SiteStatus.ONLINE).exclude(Exists(gating))
    report.groups_ready += len(bulk_transition(waiting, "make_ready", {S.WAITING}, S.READY))


def execution_backend_name(site) -> str:
    """Return the backend a site's groups run on: the MSPROC_EXECUTION_BACKEND override, else the site's own."""
    return settings.MSPROC_EXECUTION_BACKEND or site.execution_backend


def _prepare_jobs(report: TickReport) -> None:
    """Turn ready (and rescuable) groups into new Job attempts and enqueue their submission.

    Local runs share this machine, so at most MSPROC_LOCAL_MAX_RUNNING of them are in flight.
    """
    candidates = Group.objects.filter(status__in=[S.READY, S.RESCUABLE], campaign__status=S.RUNNING,
                                      site__status=SiteStatus.ONLINE)
    if settings.MSPROC_EXECUTION_BACKEND:
        local = candidates if settings.MSPROC_EXECUTION_BACKEND == "local" else candidates.none()
        remote = candidates.none() if settings.MSPROC_EXECUTION_BACKEND == "local" else candidates
    else:
        local = candidates.filter(site__execution_backend="local")
        remote = candidates.exclude(site__execution_backend="local")
    capacity = settings.MSPROC_LOCAL_MAX_RUNNING - Job.objects.filter(
        backend="local", status__in=[S.PREPARED, S.RUNNING]).count()
    if capacity > 0:
        _prepare(local, capacity, report)
    _prepare(remote, None, report)


def _prepare(candidates, limit: int | None, report: TickReport) -> None:
    with transaction.atomic():
        moved = bulk_transition(candidates, "prepare", {S.READY, S.RESCUABLE}, S.PREPARED, limit=limit,
                                attempts=F("attempts") + 1)
        if not moved:
            return
        rescued = {pk for pk, previous in moved if previous == S.RESCUABLE}
        groups = list(Group.objects.filter(pk__in=[pk for pk, _ in moved])
                      .select_related("step", "site", "campaign"))
        jobs = Job.objects.bulk_create([_new_job(group, group.pk in rescued) for group in groups],
                                       batch_size=1000)
        if rescued:
            Job.objects.filter(group_id__in=rescued, status__in=[S.FAILED, S.REVIEWABLE]).update(
                status=S.RESCUED, status_changed_at=timezone.now())
        ids = [job.pk for job in jobs]
        report.jobs_prepared += ids
        transaction.on_commit(lambda: _enqueue_jobs(ids))


# ---------------------------------------------------------------------------------------------- jobs


@lru_cache(maxsize=64)
def _spec_collections(spec_text: str) -> tuple[str, ...]:
    document = yaml.safe_load(spec_text) or {}
    names = list((document.get("inputs") or {}).get("collections") or [])
    for default in document.get("defaults") or []:
        names += list(default.get("collections") or [])
    return tuple(dict.fromkeys(names))


def _repo_root(site_id: int) -> str:
    repo = ButlerRepo.objects.filter(site_id=site_id, name=settings.MSPROC_REPO_NAME).only("root_uri").first()
    return repo.root_uri if repo else ""


def workflow_name(group: Group, attempt: int) -> str:
    """Return the workflow name of a group attempt: the same on every retry of the same Celery task."""
    campaign = re.sub(r"[^A-Za-z0-9_-]+", "-", group.campaign.name)
    return f"{campaign}-{group.step.name}-g{group.ordinal}-a{attempt}"


def _new_job(group: Group, rescue: bool) -> Job:
    out = group.campaign.output_prefix
    attempt = group.attempts
    backend = execution_backend_name(group.site)
    return Job(
        group=group, attempt=attempt, backend=backend, rescue=rescue, status=S.PREPARED,
        workflow_name=workflow_name(group, attempt),
        run_collection=f"{out}/{group.step.name}/group{group.ordinal}/attempt{attempt}",
        submit_dir=str(settings.DATA_DIR / "campaigns" / str(group.campaign_id) / "jobs"
                       / workflow_name(group, attempt)),
    )


def submission_for(job: Job) -> Submission:
    """Return what the backend needs to run ``job`` (paths, collections, query, injected failures)."""
    group = job.group
    step = group.step
    campaign = group.campaign
    out = campaign.output_prefix
    earlier = Step.objects.filter(campaign=campaign, order__lt=step.order).order_by("-order")
    inputs = [f"{out}/{name}" for name in earlier.values_list("name", flat=True)]
    inputs += list(_spec_collections(campaign.spec))
    failures = [
        {"task_label": f["task"], "where": f["where"], "exception": f.get("exception", "builtins.ValueError")}
        for f in campaign.fault_injection or []
        if f.get("step") == step.name and job.attempt in f.get("attempts", [1])
        and (not f.get("site") or f["site"] == group.site.code)
    ]
    from msproc.lib.planning.dataflow import resolve_pipeline_uri

    return Submission(
        workflow_name=job.workflow_name, site=group.site.code, repo=_repo_root(group.site_id), step=step.name,
        pipeline=resolve_pipeline_uri((campaign.plan or {}).get("pipeline", "mock:drp")), inputs=inputs,
        output=f"{out}/{step.name}/group{group.ordinal}", output_run=job.run_collection,
        step_chain=f"{out}/{step.name}", data_query=group.data_query, work_dir=job.submit_dir,
        memory_mb=step.memory_mb, bps_yaml=job.bps_yaml, rescue=job.rescue, failures=failures,
        timeout=settings.MSPROC_PIPETASK_TIMEOUT,
    )


def submit_job(job_id: int) -> str | None:
    """Submit a prepared job to its backend (once); return the job's status, None if it is gone."""
    job = Job.objects.select_related("group__step", "group__site", "group__campaign").filter(pk=job_id).first()
    if job is None or job.status != S.PREPARED:
        return getattr(job, "status", None)
    if job.group.campaign.status != S.RUNNING:
        return job.status
    backend = get_execution_backend(job.backend)
    if not job.bps_yaml:
        job.bps_yaml = render_bps_yaml(job)
        Job.objects.filter(pk=job.pk).update(bps_yaml=job.bps_yaml)
    submission = submission_for(job)
    try:
        external_ids = backend.submit(submission)
    except BackendError as exc:
        if not exc.permanent:
            raise  # the task retries; the job stays prepared
        with transaction.atomic():
            job.fail(str(exc))
            job.group.fail(str(exc))
        return job.status
    with transaction.atomic():
        try:
            job.start(external_ids=external_ids)
            job.group.start()
        except IllegalTransition:
            return Job.objects.filter(pk=job.pk).values_list("status", flat=True).first()
    return job.status


def render_bps_yaml(job: Job) -> str:
    """Return the BPS submit YAML of a job's group (what a PanDA submission would send)."""
    from msproc.lib.planning.bps import SiteInfo, render_submit_yaml
    from msproc.lib.planning.dataflow import resolve_pipeline_uri
    from msproc.lib.planning.planner import Plan, PlannedGroup

    group = job.group
    site = group.site
    info = SiteInfo(site.code, site.compute_site, site.compute_cloud, site.queue_prefix, _repo_root(site.pk))
    planned_group = PlannedGroup(ordinal=group.ordinal, site=site.code, data_query=group.data_query,
                                 visits=group.data_ids.get("visit", []), tracts=group.data_ids.get("tract", []))
    try:
        plan = Plan.from_dict(group.campaign.plan)
        return render_submit_yaml(plan, plan.step(group.step.name), planned_group, info,
                                  pipeline_yaml=resolve_pipeline_uri(plan.pipeline))
    except (KeyError, TypeError, ValueError) as exc:  # informational for local runs: never block a submission
        return f"# could not render the BPS YAML: {exc}\n"


def poll_jobs(report: TickReport | None = None) -> TickReport:
    """Poll every running job, in batches per backend, and apply the outcomes."""
    report = report or TickReport()
    refs: dict[str, list[tuple[int, JobRef]]] = defaultdict(list)
    blocked: set[int] = set()
    for pk, backend, name, ids, work_dir, status in Job.objects.filter(status__in=[S.RUNNING, S.BLOCKED]).values_list(
            "pk", "backend", "workflow_name", "external_ids", "submit_dir", "status").iterator(chunk_size=2000):
        refs[backend].append((pk, JobRef(name, ids or {}, work_dir)))
        if status == S.BLOCKED:
            blocked.add(pk)
    for backend_name, entries in refs.items():
        backend = get_execution_backend(backend_name)
        for start in range(0, len(entries), POLL_BATCH):
            batch = entries[start:start + POLL_BATCH]
            try:
                statuses = backend.poll([ref for _, ref in batch])
            except BackendError as exc:
                log.warning("polling %s failed: %s", backend_name, exc)
                continue  # jobs stay running; the next tick polls again
            report.jobs_polled += len(batch)
            _apply_holds({pk: statuses[ref.workflow_name].state for pk, ref in batch if ref.workflow_name in statuses},
                         blocked)
            finished = {pk: statuses[ref.workflow_name] for pk, ref in batch
                        if ref.workflow_name in statuses and statuses[ref.workflow_name].finished}
            report.jobs_finished += apply_outcomes(finished)
    return report


def _apply_holds(states: dict[int, str], blocked: set[int]) -> None:
    """A held attempt blocks its group (e.g. held at PanDA); one running again unblocks it."""
    for job in Job.objects.filter(pk__in=[pk for pk, state in states.items()
                                          if (state == "held") != (pk in blocked)]).select_related("group"):
        try:
            with transaction.atomic():
                if states[job.pk] == "held":
                    job.block("held by the execution backend")
                    job.group.block("held by the execution backend")
                elif states[job.pk] == "running":
                    job.unblock(comment="running again")
                    job.group.unblock(comment="running again")
        except IllegalTransition:
            continue


def apply_outcomes(outcomes: dict[int, JobStatus]) -> int:
    """Record finished jobs: accept the successes set-based, judge the failures by ErrorRule. Returns count."""
    if not outcomes:
        return 0
    succeeded = [pk for pk, status in outcomes.items() if status.state == "succeeded"]
    done = 0
    if succeeded:
        done += _accept_jobs(succeeded, outcomes)
    rules = list(ErrorRule.objects.filter(enabled=True).order_by("priority", "name"))
    for job in Job.objects.filter(pk__in=[pk for pk in outcomes if pk not in set(succeeded)]).select_related(
            "group__campaign", "group__step"):
        _record_failure(job, outcomes[job.pk], rules)
        done += 1
    return done


def _accept_jobs(job_ids: list[int], outcomes: dict[int, JobStatus]) -> int:
    with transaction.atomic():
        moved = bulk_transition(Job.objects.filter(pk__in=job_ids), "accept", {S.RUNNING}, S.ACCEPTED,
                                campaign_field="group__campaign_id", finished_at=timezone.now())
        ids = [pk for pk, _ in moved]
        for pk in ids:  # quanta counts differ per job; one small UPDATE each, inside the same transaction
            status = outcomes[pk]
            Job.objects.filter(pk=pk).update(quanta_expected=status.expected, quanta_succeeded=status.succeeded,
                                             quanta_failed=status.failed, log_tail=status.log_tail[-8000:],
                                             log_path=status.log_path)
        groups = Group.objects.filter(jobs__pk__in=ids)
        bulk_transition(groups, "accept", {S.RUNNING}, S.ACCEPTED, last_error="")
    return len(ids)


def match_rule(text: str, rules: Iterable[ErrorRule]) -> ErrorRule | None:
    """Return the first rule (by priority) whose pattern occurs in ``text``."""
    for rule in rules:
        if rule.matches(text):
            return rule
    return None


def _record_failure(job: Job, status: JobStatus, rules: list[ErrorRule]) -> None:
    group = job.group
    text = "\n".join(part for part in (status.error, status.log_tail) if part)
    rule = match_rule(text, rules)
    summary = (status.error or "failed").strip().splitlines()
    message = summary[0][:300] if summary else "failed"
    with transaction.atomic():
        Job.objects.filter(pk=job.pk).update(quanta_expected=status.expected, quanta_succeeded=status.succeeded,
                                             quanta_failed=status.failed, log_tail=status.log_tail[-8000:],
                                             log_path=status.log_path, error_rule=rule)
        try:
            if status.state == "partial":
                job.review(text[-4000:])
            else:
                job.fail(text[-4000:])
            if status.state == "partial" or (rule and rule.action == ErrorAction.REVIEW):
                group.review(message, error_rule=rule)
            else:
                group.fail(message, error_rule=rule)
        except IllegalTransition:
            return
        if rule is None:
            return
        limit = min(rule.max_retries, settings.MSPROC_MAX_AUTO_RETRIES)
        comment = f"error rule {rule.name}: {rule.action}"
        if rule.action == ErrorAction.RETRY and group.auto_retries < limit:
            group.retry(automatic=True, comment=comment)
        elif rule.action == ErrorAction.RESCUE and group.auto_retries < limit:
            group.rescue(automatic=True, comment=comment)
        elif rule.action == ErrorAction.PAUSE:
            try:
                group.campaign.pause(comment=comment)
            except IllegalTransition:
                pass


# ---------------------------------------------------------------------------------------------- finishing


def _finish_steps(campaign_id: int, report: TickReport) -> None:
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    for step_id, status, n in (Group.objects.filter(campaign_id=campaign_id, step__status__in=[
            S.RUNNING, S.REVIEWABLE]).values_list("step_id", "status").annotate(n=Count("pk"))):
        counts[step_id][status] = n
    for step in Step.objects.filter(pk__in=counts):
        by_status = counts[step.pk]
        total = sum(by_status.values())
        accepted = by_status.get(S.ACCEPTED, 0) + by_status.get(S.REJECTED, 0)
        attention = sum(by_status.get(s, 0) for s in (S.FAILED, S.REVIEWABLE, S.BLOCKED))
        try:
            if accepted == total and step.status == S.RUNNING:
                step.accept()
                report.steps_finished += 1
            elif attention and attention + accepted == total and step.status == S.RUNNING:
                step.review(comment=f"{attention} group(s) need an operator")
            elif step.status == S.REVIEWABLE and attention + accepted < total:
                step.reopen(comment="groups are running again")
            elif step.status == S.REVIEWABLE and accepted == total:
                step.reopen(comment="every group is accepted")
                step.accept()
        except IllegalTransition:
            continue


def _finish_campaign(campaign_id: int, report: TickReport) -> None:
    campaign = Campaign.objects.get(pk=campaign_id)
    steps = Step.objects.filter(campaign_id=campaign_id)
    if steps.exclude(status=S.ACCEPTED).exists():
        return
    if Movement.objects.filter(campaign_id=campaign_id).exclude(status__in=[M.DONE, M.CANCELLED]).exists():
        return
    try:
        campaign.accept(comment="every step accepted and every movement done")
        report.campaigns_finished += 1
    except IllegalTransition:
        pass


def _requeue_lost(report: TickReport) -> None:
    """Re-enqueue work whose message may have been lost (a worker died, a broker restarted)."""
    stale = timezone.now() - REQUEUE_AFTER
    jobs = list(Job.objects.filter(status=S.PREPARED, status_changed_at__lt=stale).values_list("pk", flat=True)[:500])
    if jobs:
        Job.objects.filter(pk__in=jobs).update(status_changed_at=timezone.now())
        report.requeued_jobs = jobs
        _enqueue_jobs(jobs)
    lease = timezone.now() - timedelta(seconds=settings.MSPROC_MOVEMENT_LEASE_SECONDS)
    movements = list(Movement.objects.filter(
        Q(status=M.READY, status_changed_at__lt=stale, campaign__status=S.RUNNING)
        | Q(status=M.TRANSFERRING)
        | Q(status__in=[M.REGISTERING, M.INGESTING], status_changed_at__lt=lease)
    ).values_list("pk", flat=True)[:500])
    retry = list(Movement.objects.filter(status=M.FAILED, attempts__lt=settings.MSPROC_MAX_AUTO_RETRIES + 1,
                                         status_changed_at__lt=stale).values_list("pk", flat=True)[:100])
    for movement in Movement.objects.filter(pk__in=retry):
        try:
            movement.retry(comment="automatic retry of a failed transfer")
            movements.append(movement.pk)
        except IllegalTransition:
            continue
    if movements:
        Movement.objects.filter(pk__in=movements, status=M.READY).update(status_changed_at=timezone.now())
        report.requeued_movements = movements
        _enqueue_movements(movements)


# ---------------------------------------------------------------------------------------------- enqueueing


def _enqueue_jobs(job_ids: list[int]) -> None:
    from .tasks import submit_job as task

    for pk in job_ids:
        task.delay(pk)


def _enqueue_movements(movement_ids: list[int]) -> None:
    from transfers.tasks import advance_movement as task

    def send() -> None:
        for pk in movement_ids:
            task.delay(pk)

    transaction.on_commit(send)
