"""Orchestration: the reconciler tick that moves every running campaign forward.

One tick (``reconcile``) is idempotent and safe in several workers at once:
every move is a conditional transition and rows another worker holds are
skipped. It is set-based (one query per kind of move, not per group) and
works in batches of ``BATCH`` rows (keyset pagination, one transaction per
batch), so a tick's memory does not grow with the number of groups and its
query count grows only by a few queries per ``BATCH`` groups moved.
Slow I/O (submitting, polling, transferring) happens in tasks enqueued after
the state change commits; submissions go ``SUBMIT_BATCH`` jobs per task.
With a backend that has a change feed, a tick polls what changed and a bounded sweep, not every
running job (``poll_jobs``), and steps are finished by index probes, not by counting their groups:
a tick's cost follows what changed. docs/benchmarks.md has the figures.

Fault isolation: each campaign's part of the tick runs in its own savepoint
(``TickReport.isolated``), and a set-based move over several campaigns that
fails is redone campaign by campaign. A failure is recorded on its campaign
(``Campaign.tick_error`` and a ``tick_failed`` Event) and the tick goes on
with the others; the record is cleared when the campaign's part succeeds again.
"""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import BooleanField, Exists, F, Max, OuterRef, Q, Subquery, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.utils import timezone

from core import queue
from core.leases import claimable
from core.lifecycle import IllegalTransition, bulk_transition, record_event
from sites.choices import SiteStatus
from sites.models import Site
from sites.services import report_backend_failure
from transfers import orchestration as movements
from transfers.choices import MovementStatus
from transfers.models import Movement

from .backends import BackendError, Changes, JobRef, JobStatus, get_execution_backend
from .choices import ErrorAction, Status
from .models import Campaign, ErrorRule, Group, Job, Step
from .submission import new_job

log = logging.getLogger(__name__)
S = Status
M = MovementStatus
# Rows per statement and transaction in a tick (ready, prepare, poll, accept); the query count of a tick
# is constant up to BATCH groups moved per kind of move and grows by a few queries per further BATCH.
BATCH = 1000
POLL_BATCH = BATCH
# Jobs of a backend with a change feed polled per tick whatever the feed says, the least recently polled first.
POLL_SWEEP = 500
# A change feed is asked from this long before the last poll: a change made while that poll ran is not missed.
FEED_MARGIN = timedelta(seconds=5)
# Jobs per submission task: several tasks share the worker processes, one task's backend calls run in turn.
SUBMIT_BATCH = 100
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
    # Campaign id -> what failed in its part of the tick (the first failure), see ``isolated``.
    faults: dict[int, str] = field(default_factory=dict)
    handled: set[int] = field(default_factory=set)

    @contextmanager
    def isolated(self, campaign_id: int, what: str) -> Iterator[None]:
        """Run one campaign's part of the tick in a savepoint; any exception in it is rolled back to the
        savepoint and recorded against the campaign instead of stopping the tick."""
        self.handled.add(campaign_id)
        try:
            with transaction.atomic():
                yield
        except Exception as exc:  # whatever one campaign's rows do, the others go on
            self.fault(campaign_id, what, exc)

    def fault(self, campaign_id: int, what: str, exc: BaseException) -> None:
        log.error("reconcile: campaign %s, %s failed", campaign_id, what, exc_info=exc)
        self.faults.setdefault(campaign_id, f"{what}: {type(exc).__name__}: {exc}"[:4000])


# ---------------------------------------------------------------------------------------------- the tick


def reconcile() -> TickReport:
    """Advance every running campaign by one tick and return what was done.

    A failure in one campaign's part is recorded on that campaign (``record_faults``) and does not stop
    the tick for the others.
    """
    report = TickReport()
    for campaign_id in Campaign.objects.filter(status=S.RUNNING).values_list("pk", flat=True):
        with report.isolated(campaign_id, "starting steps and readying movements and groups"):
            _start_steps(campaign_id, report)
            _ready_movements(campaign_id, report)
            _ready_groups(campaign_id, report)
    _prepare_jobs(report)
    poll_jobs(report)
    for campaign_id in Campaign.objects.filter(status__in=Campaign.sources_of("fail")).values_list("pk", flat=True):
        with report.isolated(campaign_id, "finishing steps and the campaign"):
            _finish_steps(campaign_id, report)
            _finish_campaign(campaign_id, report)
    _requeue_lost(report)
    record_faults(report)
    return report


def record_faults(report: TickReport) -> None:
    """Record each campaign's tick failure on the campaign (``tick_error``, and a ``tick_failed`` Event when the
    error is new); clear it, with a ``tick_recovered`` Event, on campaigns handled this tick without one."""
    now = timezone.now()
    if report.faults:
        for campaign in Campaign.objects.filter(pk__in=list(report.faults)).only("pk", "name", "status",
                                                                                  "tick_error"):
            error = report.faults[campaign.pk]
            if campaign.tick_error != error:
                with transaction.atomic():
                    Campaign.objects.filter(pk=campaign.pk).update(tick_error=error, tick_error_at=now)
                    record_event(campaign, "tick_failed", campaign.status, campaign.status, comment=error)
    recovered = (Campaign.objects.filter(pk__in=list(report.handled - set(report.faults))).exclude(tick_error="")
                 .only("pk", "name", "status", "tick_error"))
    for campaign in recovered:
        with transaction.atomic():
            Campaign.objects.filter(pk=campaign.pk).update(tick_error="", tick_error_at=None)
            record_event(campaign, "tick_recovered", campaign.status, campaign.status,
                         comment=f"the tick handles it again (it failed with: {campaign.tick_error[:500]})")


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
    pending_steps = Step.objects.filter(campaign_id=campaign_id).exclude(status=S.ACCEPTED)
    report.movements_ready += movements.make_ready(campaign_id, pending_steps)


def _inputs_pending():
    """Return the conditions under which a group's inputs are not all at its site yet.

    A movement to its site before its step is not done, or (after a reassignment made a lost site's outputs
    again) a group of a step it depends on at the same site is not finished. Normally a step starts only after
    the steps it depends on are accepted, so the second never holds outside a re-plan.
    """
    gating = Movement.objects.filter(before_step=OuterRef("step"), destination=OuterRef("site")).exclude(
        status__in=Movement.final_states())
    upstream = Group.objects.filter(site=OuterRef("site"), step__dependents=OuterRef("step")).exclude(
        status__in=Group.final_states())
    return Exists(gating) | Exists(upstream)


def _ready_groups(campaign_id: int, report: TickReport) -> None:
    waiting = Group.objects.filter(campaign_id=campaign_id, status=S.WAITING, step__status=S.RUNNING,
                                   site__status=SiteStatus.ONLINE).exclude(_inputs_pending())
    while True:
        moved = len(bulk_transition(waiting, "make_ready", limit=BATCH))
        report.groups_ready += moved
        if moved < BATCH:
            return


def _prepare_jobs(report: TickReport) -> None:
    """Turn ready (and rescuable) groups into new Job attempts and enqueue their submission.

    Local runs share this machine, so at most MSPROC_LOCAL_MAX_RUNNING of them are in flight.
    """
    # A group retried (or reassigned) before its inputs arrived waits here for them.
    candidates = Group.objects.filter(status__in=Group.sources_of("prepare"), campaign__status=S.RUNNING,
                                      site__status=SiteStatus.ONLINE).exclude(
        step__status__in=Step.targets_of("pause", "reject")).exclude(_inputs_pending())
    if settings.MSPROC_EXECUTION_BACKEND:
        local = candidates if settings.MSPROC_EXECUTION_BACKEND == "local" else candidates.none()
        remote = candidates.none() if settings.MSPROC_EXECUTION_BACKEND == "local" else candidates
    else:
        local = candidates.filter(site__execution_backend="local")
        remote = candidates.exclude(site__execution_backend="local")
    if settings.MSPROC_EXECUTION_BACKEND in (None, "", "local"):
        capacity = settings.MSPROC_LOCAL_MAX_RUNNING - Job.objects.filter(
            backend="local", status__in=Job.sources_of("start", "accept")).count()  # prepared or running
        if capacity > 0:
            _prepare(local, capacity, report)
    _prepare(remote, None, report)


def _prepare(candidates, limit: int | None, report: TickReport) -> None:
    """Prepare up to ``limit`` (None: all) candidate groups, BATCH per transaction.

    A batch that fails is redone campaign by campaign: the campaigns whose part fails are recorded
    (``report.faults``) and left out of the rest of this tick; the others are prepared.
    """
    while limit is None or limit > 0:
        size = BATCH if limit is None else min(BATCH, limit)
        try:
            moved = _prepare_batch(candidates, size, report)
        except Exception:  # find whose rows fail, below
            faulty = len(report.faults)
            moved = _prepare_by_campaign(candidates, size, report)
            candidates = candidates.exclude(campaign_id__in=list(report.faults))
            if not moved and len(report.faults) == faulty:
                raise  # not one campaign's rows: a failure of the tick itself
        else:
            if moved < size:
                return
        if limit is not None:
            limit -= moved


def _prepare_by_campaign(candidates, size: int, report: TickReport) -> int:
    """Prepare up to ``size`` candidate groups one campaign at a time, each in its own savepoint."""
    moved = 0
    for campaign_id in list(candidates.order_by("campaign_id").values_list("campaign_id", flat=True).distinct()):
        if moved >= size:
            break
        with report.isolated(campaign_id, "preparing jobs"):
            moved += _prepare_batch(candidates.filter(campaign_id=campaign_id), size - moved, report)
    return moved


def _prepare_batch(candidates, size: int, report: TickReport) -> int:
    with transaction.atomic():
        # The longest-ready first: a group retried again and again never overtakes another campaign's groups.
        moved = bulk_transition(candidates, "prepare", limit=size,
                                order_by=("status_changed_at", "pk"), attempts=F("attempts") + 1,
                                started_at=Coalesce("started_at", Value(timezone.now())))  # the first attempt's
        if not moved:
            return 0
        rescued = {pk for pk, previous in moved if previous == S.RESCUABLE}
        # Only what a Job row needs: the campaign's plan and spec can weigh megabytes.
        groups = (Group.objects.filter(pk__in=[pk for pk, _ in moved]).select_related("step", "site", "campaign")
                  .only("ordinal", "attempts", "campaign_id", "step_id", "site_id", "step__name",
                        "site__execution_backend", "campaign__name", "campaign__output_prefix"))
        if rescued:
            Job.objects.filter(group_id__in=rescued, status__in=Job.sources_of("supersede")).update(
                status=S.RESCUED, status_changed_at=timezone.now())
        jobs = Job.objects.bulk_create([new_job(group, group.pk in rescued) for group in groups],
                                       batch_size=1000)
        ids = [job.pk for job in jobs]
        report.jobs_prepared += ids
        transaction.on_commit(lambda: _enqueue_jobs(ids))
    return len(moved)


def poll_jobs(report: TickReport | None = None) -> TickReport:
    """Poll the running (or held) jobs, POLL_BATCH at a time, and apply the outcomes batch by batch.

    A backend with a change feed (``has_change_feed``) is asked which of its attempts changed since its last
    poll, and only those are polled, with the ``POLL_SWEEP`` of its jobs polled least recently (``polled_at``;
    never polled first): a tick's cost follows what changed, and every job is still polled at least once
    every ceil(jobs / POLL_SWEEP) ticks whatever the feed says. Every other backend's jobs (and those of a
    feed that cannot tell this tick) are all polled, with keyset pagination over their ids: never more than
    one batch of rows in memory. Called on its own (not from ``reconcile``), it records the campaigns'
    failures itself.
    """
    own = report is None
    report = report or TickReport()
    fed: list[str] = []  # backends whose jobs this tick polls by their change feed
    now = timezone.now()
    feeds = _feed_backends()
    for name in feeds:
        changes = _changes(name, report)
        if changes is not None:
            fed.append(name)
            named = _named(changes)
            # The ids of the named jobs that still run (as many as changed), then their rows POLL_BATCH at a time.
            ids = sorted(Job.objects.filter(named, status__in=_POLLED, backend=name).order_by()
                         .values_list("pk", flat=True)) if named is not None else []
            for start in range(0, len(ids), POLL_BATCH):
                rows = list(Job.objects.filter(_any("id", ids[start:start + POLL_BATCH]), status__in=_POLLED)
                            .order_by("pk").values_list(*_POLL_COLUMNS))
                if rows:
                    _poll_batch(rows, report, (feeds, now))
    if fed:  # the sweep: not those just polled (stamped now)
        rows = list(_sweep(fed, Q(polled_at__isnull=True) | Q(polled_at__lt=now)).values_list(*_POLL_COLUMNS))
        if rows:
            _poll_batch(rows, report, (feeds, now))
    last = 0
    while True:
        rows = list(Job.objects.filter(status__in=_POLLED, pk__gt=last).exclude(backend__in=fed).order_by("pk")
                    .values_list(*_POLL_COLUMNS)[:POLL_BATCH])
        if rows:
            last = rows[-1][0]
            _poll_batch(rows, report)
        if len(rows) < POLL_BATCH:
            break
    for name in sorted(set(feeds) - set(fed)):
        # Polled in full: no need to write each job. Stamping one sweep's worth moves the sweep on and gives the
        # next tick's change feed its start (the latest polled_at).
        Job.objects.filter(pk__in=Subquery(_sweep([name]).values("pk"))).update(polled_at=now)
    if own and report.faults:
        record_faults(report)
    return report


def _sweep(backends: list[str], *conditions: Q):
    """The POLL_SWEEP running (or held) jobs of ``backends`` polled least recently, never polled first."""
    return (Job.objects.filter(*conditions, status__in=_POLLED, backend__in=backends)
            .order_by(F("polled_at").asc(nulls_first=True), "pk")[:POLL_SWEEP])


_POLLED = Job.POLLED_STATES  # what a backend reports on: running and blocked
_POLL_COLUMNS = ("pk", "group_id", "backend", "workflow_name", "external_ids", "submit_dir", "status")


def _feed_backends() -> list[str]:
    """Names of the execution backends in use (the setting's, or the sites') that have a change feed."""
    if settings.MSPROC_EXECUTION_BACKEND:
        names = {settings.MSPROC_EXECUTION_BACKEND}
    else:
        names = set(Site.objects.values_list("execution_backend", flat=True).distinct())
    feeds = []
    for name in sorted(names):
        try:
            if get_execution_backend(name).has_change_feed:
                feeds.append(name)
        except BackendError:
            continue  # an unknown name: its jobs (if any) are polled in full, and fail there as before
    return feeds


def _changes(name: str, report: TickReport) -> Changes | None:
    """Ask a backend's change feed what changed since its last poll; None: poll all its jobs this tick."""
    since = Job.objects.filter(status__in=_POLLED, backend=name).aggregate(last=Max("polled_at"))["last"]
    if since is None:
        return None  # never polled (or nothing running): the full poll stores polled_at
    try:
        changes = get_execution_backend(name).changed((since - FEED_MARGIN).timestamp())
        for key in (changes.external_key, changes.flagged_key) if changes is not None else ():
            if key and not re.fullmatch(r"\w+", key):
                raise BackendError(f"not an external id name: {key!r}", permanent=True)
        return changes
    except BackendError as exc:
        log.warning("the change feed of %s failed: %s; polling all its jobs", name, exc)
        report_backend_failure("execution", name, "poll", str(exc))
        return None


def _any(column: str, values: list, cast: str = "") -> Q:
    """``column = ANY(values)`` on the job table: one array parameter however many values (not one per value)."""
    return Q(RawSQL(f'{column if column.startswith("(") else f"{Job._meta.db_table}.{column}"} = ANY(%s{cast})',
                    (values,), output_field=BooleanField()))


def _named(changes: Changes) -> Q | None:
    """The condition on jobs that ``changes`` names (None: nothing)."""
    named = _any("workflow_name", sorted(changes.workflow_names)) if changes.workflow_names else None
    if changes.external_key and changes.external_values:
        by_id = _any(f"({Job._meta.db_table}.external_ids -> '{changes.external_key}')",
                     [json.dumps(value) for value in changes.external_values], "::jsonb[]")
        named = by_id if named is None else named | by_id
    if changes.flagged_key:
        flagged = Q(**{f"external_ids__{changes.flagged_key}": True})
        named = flagged if named is None else named | flagged
    return named


def _poll_batch(rows: list[tuple], report: TickReport, stamp: tuple[list[str], datetime] | None = None) -> None:
    """Poll one batch of jobs and apply what finished. ``stamp``: (backends with a change feed, the time of this
    poll), stored as ``polled_at`` on those backends' jobs that were polled and go on."""
    refs: dict[str, list[tuple[int, JobRef]]] = defaultdict(list)
    for pk, _group, backend, name, ids, work_dir, _status in rows:
        refs[backend].append((pk, JobRef(name, ids or {}, work_dir)))
    states: dict[int, str] = {}
    asked: dict[int, JobRef] = {}  # the jobs whose backend answered
    finished: dict[int, JobStatus] = {}
    new_ids: dict[int, dict] = {}
    for backend_name, entries in refs.items():
        try:
            statuses = get_execution_backend(backend_name).poll([ref for _, ref in entries])
        except BackendError as exc:
            log.warning("polling %s failed: %s", backend_name, exc)
            report_backend_failure("execution", backend_name, "poll", str(exc))
            continue  # jobs stay running; the next tick polls again
        report.jobs_polled += len(entries)
        asked.update(entries)
        for pk, ref in entries:
            status = statuses.get(ref.workflow_name)
            if status is not None:
                states[pk] = status.state
                if status.finished:
                    finished[pk] = status
                if status.external_ids and {**ref.external_ids, **status.external_ids} != ref.external_ids:
                    new_ids[pk] = {**ref.external_ids, **status.external_ids}
    if new_ids:  # ids the backend learnt after the submit, e.g. PanDA task ids: one UPDATE for the batch
        Job.objects.bulk_update([Job(pk=pk, external_ids=ids) for pk, ids in new_ids.items()], ["external_ids"])
    stamped = sorted(pk for pk, _group, backend, *_ in rows if stamp and backend in stamp[0] and pk in asked
                     and pk not in finished)  # a finished job leaves the poll: no need to write it
    if stamped:
        Job.objects.filter(pk__in=stamped).update(polled_at=stamp[1])
    _apply_holds(states, {row[0] for row in rows if row[6] == S.BLOCKED}, report)
    groups = {row[0]: row[1] for row in rows}
    if not finished:
        return
    try:
        with transaction.atomic():
            report.jobs_finished += apply_outcomes(finished, groups)
    except Exception:  # redo campaign by campaign: only the campaign whose rows fail is held back
        campaigns = defaultdict(list)
        for pk, campaign_id in Job.objects.filter(pk__in=list(finished)).values_list("pk", "group__campaign_id"):
            campaigns[campaign_id].append(pk)
        for campaign_id, job_ids in campaigns.items():
            with report.isolated(campaign_id, "recording finished jobs"):
                report.jobs_finished += apply_outcomes({pk: finished[pk] for pk in job_ids}, groups)
            if stamp and campaign_id in report.faults:
                # Not recorded, and the feed will not name them again: the next tick's sweep takes them first.
                Job.objects.filter(pk__in=job_ids, status__in=_POLLED).update(polled_at=None)


def _apply_holds(states: dict[int, str], blocked: set[int], report: TickReport) -> None:
    """A held attempt blocks its group (e.g. held at PanDA); one released (running again, or finished while
    held) unblocks it first, so its outcome is then applied like any other."""
    changed = [pk for pk, state in states.items() if (state == "held") != (pk in blocked)
               and (state == "held" or pk in blocked)]
    if not changed:
        return
    for job in Job.objects.filter(pk__in=changed).select_related("group"):
        with report.isolated(job.group.campaign_id, f"holding or releasing job {job.pk}"):
            try:
                with transaction.atomic():
                    if states[job.pk] == "held":
                        job.block("held by the execution backend")
                        job.group.block("held by the execution backend")
                    else:
                        job.unblock(comment=f"released: {states[job.pk]}")
                        job.group.unblock(comment=f"released: {states[job.pk]}")
            except IllegalTransition:
                continue


def apply_outcomes(outcomes: Mapping[int, JobStatus], groups: Mapping[int, int] | None = None) -> int:
    """Record finished jobs: accept the successes set-based, judge the failures by ErrorRule. Returns count.

    ``groups`` maps job ids to their group ids when the caller knows them (saves a join).
    """
    if not outcomes:
        return 0
    succeeded = [pk for pk, status in outcomes.items() if status.state == "succeeded"]
    done = 0
    if succeeded:
        done += _accept_jobs(succeeded, outcomes, groups)
    others = [pk for pk, status in outcomes.items() if status.state != "succeeded"]
    if not others:
        return done
    rules = list(ErrorRule.objects.filter(enabled=True).order_by("priority", "name"))
    for job in Job.objects.filter(pk__in=others).select_related("group__campaign", "group__step").defer(
            "group__campaign__plan", "group__campaign__spec"):
        _record_failure(job, outcomes[job.pk], rules)
        done += 1
    return done


def _accept_jobs(job_ids: list[int], outcomes: Mapping[int, JobStatus], groups: Mapping[int, int] | None) -> int:
    """Accept succeeded jobs and their groups set-based; each job keeps its own quanta counts and log."""
    row_values = {
        pk: {"quanta_expected": outcomes[pk].expected, "quanta_succeeded": outcomes[pk].succeeded,
             "quanta_failed": outcomes[pk].failed, "log_tail": outcomes[pk].log_tail[-8000:],
             "log_path": outcomes[pk].log_path}
        for pk in job_ids
    }
    with transaction.atomic():
        moved = bulk_transition(Job.objects.filter(pk__in=job_ids), "accept",
                                campaign_field="group__campaign_id", row_values=row_values,
                                finished_at=timezone.now())
        ids = [pk for pk, _ in moved]
        if not ids:
            return 0
        if groups is not None and all(pk in groups for pk in ids):
            accepted = Group.objects.filter(pk__in=[groups[pk] for pk in ids])
        else:
            accepted = Group.objects.filter(jobs__pk__in=ids)
        bulk_transition(accepted, "accept", last_error="", finished_at=timezone.now())
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


#: Why a running step without groups waits for an operator (the planner refuses such plans; older ones may have it).
NO_GROUPS = "the step has no group: it matches no data, so nothing can finish it; force-accept or reject it"


#: Group statuses that neither end a step nor wait for an operator: while a group is in one, its step goes on.
_OPEN = sorted(set(S.values) - Group.final_states() - Group.sources_of("force_accept"))


def _finish_steps(campaign_id: int, report: TickReport) -> None:
    """End the campaign's running steps whose groups are all done, send to review those whose remaining groups
    all wait for an operator, and reopen reviewable steps whose groups run again.

    Two index probes per step (has it groups; has it a group still open), not a count of its groups: a step
    with an open group (nearly every one, nearly every tick) costs the same whatever its number of groups.
    Only a step with no open group left has its groups counted by status.
    """
    groups = Group.objects.filter(step=OuterRef("pk"))
    steps = Step.objects.filter(campaign_id=campaign_id, status__in=Step.sources_of("fail")).annotate(
        has_groups=Exists(groups), has_open=Exists(groups.filter(status__in=_OPEN)))
    for step in steps:  # running or reviewable: the steps that may still end
        try:
            if not step.has_groups:
                # "Nothing to do" is not "done": a step without groups would otherwise sit in running for ever.
                if step.status == S.RUNNING:
                    step.review(comment=NO_GROUPS)
            elif step.has_open:
                if step.status == S.REVIEWABLE:
                    step.reopen(comment="groups are running again")
            else:
                attention = step.groups.filter(status__in=Group.sources_of("force_accept")).count()
                if step.status == S.RUNNING and not attention:
                    step.accept()
                    report.steps_finished += 1
                elif step.status == S.RUNNING:
                    step.review(comment=f"{attention} group(s) need an operator")
                elif not attention:
                    step.reopen(comment="every group is accepted")
                    step.accept()
        except IllegalTransition:
            continue


def _finish_campaign(campaign_id: int, report: TickReport) -> None:
    steps = Step.objects.filter(campaign_id=campaign_id)
    if steps.exclude(status=S.ACCEPTED).exists():
        return
    if Movement.objects.filter(campaign_id=campaign_id).exclude(status__in=Movement.final_states()).exists():
        return
    campaign = Campaign.objects.only("pk", "name", "status").get(pk=campaign_id)  # not the plan: megabytes
    try:
        campaign.accept(comment="every step accepted and every movement done")
        report.campaigns_finished += 1
    except IllegalTransition:
        pass


# Lost submissions re-enqueued per tick, the longest-waiting first (the re-enqueued ones go to the back), so
# every one is reached within a bounded number of ticks however many there are.
REQUEUE_BATCH = 500


def _requeue_lost(report: TickReport) -> None:
    """Re-enqueue work whose message may have been lost (a worker died, a broker restarted)."""
    stale = timezone.now() - REQUEUE_AFTER
    jobs = list(Job.objects.filter(claimable(), status=S.PREPARED, status_changed_at__lt=stale)
                .order_by("status_changed_at", "pk").values_list("pk", flat=True)[:REQUEUE_BATCH])
    if jobs:
        Job.objects.filter(pk__in=jobs).update(status_changed_at=timezone.now())
        report.requeued_jobs = jobs
        _enqueue_jobs(jobs)
    report.requeued_movements = movements.requeue(Campaign.objects.filter(status=S.RUNNING),
                                                  on_fault=report.fault)


# ---------------------------------------------------------------------------------------------- enqueueing


def _enqueue_jobs(job_ids: list[int]) -> None:
    """Send the submissions, SUBMIT_BATCH job ids per task."""
    for start in range(0, len(job_ids), SUBMIT_BATCH):
        queue.send("campaigns.tasks.submit_jobs", list(job_ids[start:start + SUBMIT_BATCH]))
