"""Campaigns: templates, campaigns, stages, steps, groups, jobs and error rules."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.leases import LeasedModel
from core.lifecycle import StatefulModel, in_declared_order, sources_in
from planning.limits import MEMORY_MAX_MB
from planning.spec import SpecError, parse_spec
from transfers.choices import MovementStatus

from .choices import ErrorAction, Scope, Status
from .error_patterns import RuleError, re2_message, rule_regex

S = Status


class CampaignTemplate(models.Model):
    """A named, versioned campaign spec (YAML) that campaigns are built from."""

    name = models.CharField(max_length=128)
    version = models.PositiveIntegerField(default=1)
    description = models.TextField(blank=True)
    spec = models.TextField(help_text="Campaign spec YAML (docs/campaign-spec.md).")
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "-version"]
        constraints = [models.UniqueConstraint(fields=["name", "version"], name="campaigns_template_name_version")]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    def clean(self) -> None:
        """Check the spec as a campaign spec (structure and limits, not planned) in every form that edits it."""
        try:
            parse_spec(self.spec or "")
        except SpecError as exc:
            raise ValidationError({"spec": [str(error) for error in exc.errors[:20]]}) from None


class Campaign(StatefulModel):
    """One run of a pipeline over a data set across sites, built from a frozen spec.

    Lifecycle::

        waiting --start--> running --accept--> accepted
        running --pause--> paused --resume--> running
        running --review--> reviewable --reopen--> running
        running|reviewable --fail--> failed --reopen--> running
        waiting|running|paused|reviewable|failed --reject--> rejected
    """

    TRANSITIONS = {
        "start": ({S.WAITING}, S.RUNNING),
        "pause": ({S.RUNNING}, S.PAUSED),
        "resume": ({S.PAUSED}, S.RUNNING),
        "review": ({S.RUNNING}, S.REVIEWABLE),
        "reopen": ({S.REVIEWABLE, S.FAILED}, S.RUNNING),
        "accept": ({S.RUNNING}, S.ACCEPTED),
        "fail": ({S.RUNNING, S.REVIEWABLE}, S.FAILED),
        "reject": ({S.WAITING, S.RUNNING, S.PAUSED, S.REVIEWABLE, S.FAILED}, S.REJECTED),
    }

    name = models.CharField(max_length=128, unique=True)
    template = models.ForeignKey(CampaignTemplate, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="campaigns")
    spec = models.TextField(help_text="The frozen spec this campaign was planned from.")
    plan = models.JSONField(default=dict, blank=True, help_text="The plan as computed by the planner.")
    fault_injection = models.JSONField(
        default=list, blank=True,
        help_text="Quanta the mock pipeline must fail (local runs): "
                  '[{"step": "step1", "task": "calibrateImage", "where": "visit = 2", "attempts": [1]}].',
    )
    hub = models.ForeignKey("sites.Site", on_delete=models.PROTECT, related_name="hub_campaigns")
    output_prefix = models.CharField(max_length=256, help_text="Output collection prefix, e.g. u/msproc/2x4.")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="campaigns")
    status = models.CharField(max_length=16, choices=Status.choices, default=S.WAITING, db_index=True)
    created = models.DateTimeField(default=timezone.now, db_index=True)
    updated = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    tick_error = models.TextField(blank=True, help_text="Why the reconciler's last tick failed on this campaign "
                                                        "(empty when it did not); the other campaigns went on.")
    tick_error_at = models.DateTimeField(null=True, blank=True, help_text="When the tick first failed so.")

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.name

    def event_campaign_id(self) -> int | None:
        return self.pk

    @property
    def is_finished(self) -> bool:
        return self.status in self.final_states()

    def start(self, *, actor=None, comment: str = "") -> None:
        """waiting -> running."""
        self._transition("start", actor=actor, comment=comment, started_at=timezone.now())

    def pause(self, *, actor=None, comment: str = "") -> None:
        """running -> paused: nothing new is submitted or moved."""
        self._transition("pause", actor=actor, comment=comment)

    def resume(self, *, actor=None, comment: str = "") -> None:
        """paused -> running."""
        self._transition("resume", actor=actor, comment=comment)

    def review(self, *, actor=None, comment: str = "") -> None:
        """running -> reviewable: an operator must look."""
        self._transition("review", actor=actor, comment=comment)

    def reopen(self, *, actor=None, comment: str = "") -> None:
        """reviewable|failed -> running."""
        self._transition("reopen", actor=actor, comment=comment, finished_at=None)

    def accept(self, *, actor=None, comment: str = "") -> None:
        """running -> accepted: every step is accepted."""
        self._transition("accept", actor=actor, comment=comment, finished_at=timezone.now())

    def fail(self, *, actor=None, comment: str = "") -> None:
        """running|reviewable -> failed."""
        self._transition("fail", actor=actor, comment=comment, finished_at=timezone.now())

    def reject(self, *, actor=None, comment: str = "") -> None:
        """waiting|running|paused|reviewable|failed -> rejected: abandoned."""
        self._transition("reject", actor=actor, comment=comment, finished_at=timezone.now())


class Stage(models.Model):
    """An ordered group of steps (stage 1 single-visit, stage 2 recalibrate, ...)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(max_length=64)
    order = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["campaign", "order"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "order"], name="campaigns_stage_campaign_order"),
            models.UniqueConstraint(fields=["campaign", "name"], name="campaigns_stage_campaign_name"),
        ]

    def __str__(self) -> str:
        return self.name


class Step(StatefulModel):
    """A pipeline subset (step1, step2a, ...) of a campaign, split into groups.

    Lifecycle::

        waiting --make_ready--> ready --start--> running --accept--> accepted
        running --review--> reviewable --reopen--> running
        running|reviewable --fail--> failed --reopen--> running
        accepted --remake--> running (a reassignment makes a group's outputs again at another site)
        reviewable|failed --force_accept--> accepted
        waiting|ready|running --pause--> paused --resume--> waiting
        waiting|ready|running|reviewable|failed|paused --reject--> rejected
    """

    TRANSITIONS = {
        "make_ready": ({S.WAITING}, S.READY),
        "start": ({S.READY}, S.RUNNING),
        "accept": ({S.RUNNING}, S.ACCEPTED),
        "review": ({S.RUNNING}, S.REVIEWABLE),
        "reopen": ({S.REVIEWABLE, S.FAILED}, S.RUNNING),
        "remake": ({S.ACCEPTED}, S.RUNNING),
        "fail": ({S.RUNNING, S.REVIEWABLE}, S.FAILED),
        "force_accept": ({S.REVIEWABLE, S.FAILED}, S.ACCEPTED),
        "pause": ({S.WAITING, S.READY, S.RUNNING}, S.PAUSED),
        "resume": ({S.PAUSED}, S.WAITING),
        "reject": ({S.WAITING, S.READY, S.RUNNING, S.REVIEWABLE, S.FAILED, S.PAUSED}, S.REJECTED),
    }

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="steps")
    stage = models.ForeignKey(Stage, on_delete=models.CASCADE, related_name="steps")
    name = models.CharField(max_length=64, help_text="Pipeline subset label, e.g. step2c.")
    order = models.PositiveSmallIntegerField()
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.WIDE)
    level = models.CharField(max_length=16, default="visit", help_text="visit, tract or global: what a group splits.")
    depends_on = models.ManyToManyField("self", symmetrical=False, blank=True, related_name="dependents")
    memory_mb = models.PositiveIntegerField(
        default=4096, validators=[MinValueValidator(1), MaxValueValidator(MEMORY_MAX_MB)],
        help_text=f"Memory per quantum in MB, 1 to {MEMORY_MAX_MB:,} (the spec's bound); picks the PanDA queue.")
    split = models.JSONField(default=dict, blank=True)
    inputs = models.JSONField(default=list, blank=True, help_text="Input dataset type names.")
    outputs = models.JSONField(default=list, blank=True, help_text="Output dataset type names.")
    query_constraint = models.CharField(max_length=16, blank=True, default="",
                                        help_text="pipetask --dataset-query-constraint of its groups: '' (every "
                                                  "input) or 'off' (a step reading sky-pixel-keyed inputs).")
    status = models.CharField(max_length=16, choices=Status.choices, default=S.WAITING, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True, help_text="When it started running.")
    finished_at = models.DateTimeField(null=True, blank=True, help_text="When it was accepted or rejected.")

    class Meta:
        ordering = ["campaign", "order"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "name"], name="campaigns_step_campaign_name"),
            models.CheckConstraint(condition=models.Q(memory_mb__gt=0), name="campaigns_step_memory_positive"),
        ]

    def __str__(self) -> str:
        return self.name

    def event_campaign_id(self) -> int | None:
        return self.campaign_id

    def make_ready(self, *, actor=None, comment: str = "") -> None:
        """waiting -> ready: the steps it depends on are accepted."""
        self._transition("make_ready", actor=actor, comment=comment)

    def start(self, *, actor=None, comment: str = "") -> None:
        """ready -> running."""
        self._transition("start", actor=actor, comment=comment, started_at=timezone.now())

    def accept(self, *, actor=None, comment: str = "") -> None:
        """running -> accepted: every group is accepted (or rejected)."""
        self._transition("accept", actor=actor, comment=comment, finished_at=timezone.now())

    def review(self, *, actor=None, comment: str = "") -> None:
        """running -> reviewable: a group waits for an operator."""
        self._transition("review", actor=actor, comment=comment)

    def reopen(self, *, actor=None, comment: str = "") -> None:
        """reviewable|failed -> running: an operator acted on its groups."""
        self._transition("reopen", actor=actor, comment=comment)

    def remake(self, *, actor=None, comment: str = "") -> None:
        """accepted -> running: a reassignment added a group that makes a lost site's outputs again."""
        self._transition("remake", actor=actor, comment=comment)

    def fail(self, *, actor=None, comment: str = "") -> None:
        """running|reviewable -> failed."""
        self._transition("fail", actor=actor, comment=comment)

    def force_accept(self, *, actor=None, comment: str = "") -> None:
        """reviewable|failed -> accepted, by an operator's decision."""
        self._transition("force_accept", actor=actor, comment=comment,
                         finished_at=timezone.now())

    def pause(self, *, actor=None, comment: str = "") -> None:
        """waiting|ready|running -> paused: no new group of it is submitted."""
        self._transition("pause", actor=actor, comment=comment)

    def resume(self, *, actor=None, comment: str = "") -> None:
        """paused -> waiting (the reconciler moves it on)."""
        self._transition("resume", actor=actor, comment=comment)

    def reject(self, *, actor=None, comment: str = "") -> None:
        """Any non-terminal status -> rejected."""
        self._transition("reject", actor=actor, comment=comment, finished_at=timezone.now())


class ErrorRule(models.Model):
    """A regular expression on a failure message and what to do when it matches.

    Rules are tried in ascending ``priority``; the first enabled match wins.
    ``max_retries`` bounds automatic retries/rescues before an operator decides.
    """

    name = models.CharField(max_length=128, unique=True)
    pattern = models.CharField(max_length=1024, help_text="RE2 regular expression searched in the log/error "
                                                          "(Python syntax without backreferences or lookaround).")
    action = models.CharField(max_length=16, choices=ErrorAction.choices)
    priority = models.PositiveSmallIntegerField(default=100)
    max_retries = models.PositiveSmallIntegerField(default=2)
    enabled = models.BooleanField(default=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["priority", "name"]

    def __str__(self) -> str:
        return self.name

    @staticmethod
    def pattern_error(pattern: str) -> str | None:
        """Return why ``pattern`` cannot be a rule's (RE2 refuses it), or None. The admin and the API ask this."""
        try:
            rule_regex(pattern)
        except RuleError as exc:
            return (f"not a valid RE2 regular expression (linear-time matching: no backreferences or "
                    f"lookaround): {re2_message(exc)}")
        return None

    def clean(self) -> None:
        problem = self.pattern_error(self.pattern)
        if problem:
            raise ValidationError({"pattern": problem})

    def matches(self, text: str) -> bool:
        """True if the pattern occurs in ``text`` (multi-line search).

        RE2 matches in time linear in ``text`` whatever the pattern (a rule typed as ``(a+)+$`` cannot stall
        the worker that classifies failures). A pattern RE2 refuses (saved before it was checked) matches
        nothing.
        """
        try:
            return rule_regex(self.pattern).search(text or "") is not None
        except RuleError:
            return False


class Group(StatefulModel):
    """A slice of a step's data run at one site: one BPS submission per attempt.

    Lifecycle::

        waiting --make_ready--> ready --prepare--> prepared --start--> running
        running --accept--> accepted | --fail--> failed | --review--> reviewable | --block--> blocked
        blocked --unblock--> running
        prepared --fail--> failed
        failed|reviewable|blocked --retry--> ready
        failed|reviewable --rescue--> rescuable --prepare--> prepared (rerun what is missing)
        failed|reviewable|blocked --force_accept--> accepted
        waiting|ready --pause--> paused --resume--> waiting
        waiting|ready|prepared|running|failed|reviewable|blocked|rescuable|paused --reject--> rejected

    Giving up on a group with a live attempt (prepared, running or blocked) goes through
    ``services.act_on_group``, which also cancels that attempt at its backend.
    """

    TRANSITIONS = {
        "make_ready": ({S.WAITING}, S.READY),
        "prepare": ({S.READY, S.RESCUABLE}, S.PREPARED),
        "start": ({S.PREPARED}, S.RUNNING),
        "accept": ({S.RUNNING}, S.ACCEPTED),
        "fail": ({S.PREPARED, S.RUNNING}, S.FAILED),
        "review": ({S.RUNNING}, S.REVIEWABLE),
        "block": ({S.RUNNING}, S.BLOCKED),
        "unblock": ({S.BLOCKED}, S.RUNNING),
        "retry": ({S.FAILED, S.REVIEWABLE, S.BLOCKED}, S.READY),
        "rescue": ({S.FAILED, S.REVIEWABLE}, S.RESCUABLE),
        "force_accept": ({S.FAILED, S.REVIEWABLE, S.BLOCKED}, S.ACCEPTED),
        "pause": ({S.WAITING, S.READY}, S.PAUSED),
        "resume": ({S.PAUSED}, S.WAITING),
        "reject": ({S.WAITING, S.READY, S.PREPARED, S.RUNNING, S.FAILED, S.REVIEWABLE, S.BLOCKED, S.RESCUABLE,
                    S.PAUSED}, S.REJECTED),
    }

    # No single-column indexes on these: the composite indexes below lead with each of them.
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="groups", db_index=False)
    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="groups", db_index=False)
    site = models.ForeignKey("sites.Site", on_delete=models.PROTECT, related_name="groups", db_index=False)
    ordinal = models.PositiveIntegerField()
    data_query = models.TextField(blank=True, help_text="Butler data query (where string).")
    data_ids = models.JSONField(default=dict, blank=True, help_text="e.g. {\"visit\": [..]} or {\"tract\": [..]}.")
    status = models.CharField(max_length=16, choices=Status.choices, default=S.WAITING)
    attempts = models.PositiveSmallIntegerField(default=0)
    auto_retries = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    error_rule = models.ForeignKey(ErrorRule, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="groups")
    started_at = models.DateTimeField(null=True, blank=True, help_text="When its first attempt was prepared.")
    finished_at = models.DateTimeField(null=True, blank=True, help_text="When it was accepted or rejected.")

    class Meta:
        ordering = ["step", "ordinal"]
        constraints = [models.UniqueConstraint(fields=["step", "ordinal"], name="campaigns_group_step_ordinal")]
        indexes = [
            models.Index(fields=["campaign", "status"]),
            models.Index(fields=["step", "site", "status"]),
            models.Index(fields=["site", "status"]),
            models.Index(fields=["status", "status_changed_at"]),
        ]

    def __str__(self) -> str:
        # the step's name when it is loaded (select_related), else its id: a name never costs a query here
        step_field = self._meta.get_field("step")
        step = self.step.name if step_field.is_cached(self) else f"#{self.step_id}"
        return f"group {self.ordinal} of step {step}"

    def event_campaign_id(self) -> int | None:
        return self.campaign_id

    def make_ready(self, *, actor=None, comment: str = "") -> None:
        """waiting -> ready: its step may run and its inputs are at its site."""
        self._transition("make_ready", actor=actor, comment=comment)

    def prepare(self, *, actor=None, comment: str = "") -> None:
        """ready|rescuable -> prepared: a new attempt (Job) is about to be submitted."""
        self._transition("prepare", actor=actor, comment=comment,
                         attempts=models.F("attempts") + 1,
                         started_at=Coalesce("started_at", models.Value(timezone.now())))
        self.refresh_from_db(fields=["attempts", "started_at"])

    def start(self, *, actor=None, comment: str = "") -> None:
        """prepared -> running: the backend accepted the submission."""
        self._transition("start", actor=actor, comment=comment)

    def accept(self, *, actor=None, comment: str = "") -> None:
        """running -> accepted: every quantum succeeded."""
        self._transition("accept", actor=actor, comment=comment, last_error="",
                         finished_at=timezone.now())

    def fail(self, error: str = "", *, error_rule: ErrorRule | None = None, actor=None) -> None:
        """prepared|running -> failed, keeping the error and the matched rule."""
        self._transition("fail", actor=actor, comment=error[:500], last_error=error, error_rule=error_rule)

    def review(self, error: str = "", *, error_rule: ErrorRule | None = None, actor=None) -> None:
        """running -> reviewable: partly succeeded, or its error rule asks for review."""
        self._transition("review", actor=actor, comment=error[:500], last_error=error, error_rule=error_rule)

    def block(self, reason: str = "", *, actor=None) -> None:
        """running -> blocked (e.g. held at PanDA)."""
        self._transition("block", actor=actor, comment=reason, last_error=reason)

    def unblock(self, *, actor=None, comment: str = "") -> None:
        """blocked -> running."""
        self._transition("unblock", actor=actor, comment=comment)

    def retry(self, *, actor=None, comment: str = "", automatic: bool = False) -> None:
        """failed|reviewable|blocked -> ready: run it again from scratch."""
        extra = {"auto_retries": models.F("auto_retries") + 1} if automatic else {}
        self._transition("retry", actor=actor, comment=comment, **extra)
        if automatic:
            self.refresh_from_db(fields=["auto_retries"])

    def rescue(self, *, actor=None, comment: str = "", automatic: bool = False) -> None:
        """failed|reviewable -> rescuable: rerun only what is missing."""
        extra = {"auto_retries": models.F("auto_retries") + 1} if automatic else {}
        self._transition("rescue", actor=actor, comment=comment, **extra)
        if automatic:
            self.refresh_from_db(fields=["auto_retries"])

    def force_accept(self, *, actor=None, comment: str = "") -> None:
        """failed|reviewable|blocked -> accepted, by an operator's decision."""
        self._transition("force_accept", actor=actor,
                         comment=comment, finished_at=timezone.now())

    def pause(self, *, actor=None, comment: str = "") -> None:
        """waiting|ready -> paused."""
        self._transition("pause", actor=actor, comment=comment)

    def resume(self, *, actor=None, comment: str = "") -> None:
        """paused -> waiting."""
        self._transition("resume", actor=actor, comment=comment)

    def reject(self, *, actor=None, comment: str = "") -> None:
        """Any state but accepted|rejected -> rejected: given up (a live attempt: see services.act_on_group)."""
        self._transition("reject", actor=actor, comment=comment,
                         finished_at=timezone.now())


JOB_TRANSITIONS = {
    "start": ({S.PREPARED}, S.RUNNING),
    "accept": ({S.RUNNING}, S.ACCEPTED),
    "fail": ({S.PREPARED, S.RUNNING}, S.FAILED),
    "review": ({S.RUNNING}, S.REVIEWABLE),
    "block": ({S.RUNNING}, S.BLOCKED),
    "unblock": ({S.BLOCKED}, S.RUNNING),
    "supersede": ({S.FAILED, S.REVIEWABLE}, S.RESCUED),
    "reject": ({S.PREPARED, S.RUNNING, S.BLOCKED, S.FAILED, S.REVIEWABLE}, S.REJECTED),
}
# What a backend reports on (running and blocked): the batched poll's filter and its partial indexes' condition.
JOB_POLLED_STATES = in_declared_order(sources_in(JOB_TRANSITIONS, "block", "unblock"), Status)


class Job(LeasedModel, StatefulModel):
    """One submission attempt of a group to an execution backend.

    Lifecycle::

        prepared --start--> running --accept--> accepted
        prepared|running --fail--> failed
        running --review--> reviewable | --block--> blocked --unblock--> running
        failed|reviewable --supersede--> rescued (a later attempt reran what was missing)
        prepared|running|blocked|failed|reviewable --reject--> rejected (cancelled or abandoned)
    """

    TRANSITIONS = JOB_TRANSITIONS
    POLLED_STATES = JOB_POLLED_STATES

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="jobs", db_index=False)  # (group, attempt)
    attempt = models.PositiveSmallIntegerField()
    backend = models.CharField(max_length=16)
    workflow_name = models.CharField(max_length=256, unique=True,
                                     help_text="Derived from the group attempt; a retried submit finds it.")
    rescue = models.BooleanField(default=False, help_text="Reruns only what is missing (skip existing).")
    external_ids = models.JSONField(default=dict, blank=True, help_text="e.g. PanDA request and task ids.")
    submit_dir = models.CharField(max_length=1024, blank=True)
    run_collection = models.CharField(max_length=512)
    bps_yaml = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=S.PREPARED)
    quanta_expected = models.PositiveIntegerField(default=0)
    quanta_succeeded = models.PositiveIntegerField(default=0)
    quanta_failed = models.PositiveIntegerField(default=0)
    created = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    log_path = models.CharField(max_length=1024, blank=True)
    log_tail = models.TextField(blank=True)
    error = models.TextField(blank=True)
    error_rule = models.ForeignKey(ErrorRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs")
    polled_at = models.DateTimeField(null=True, blank=True, editable=False,
                                     help_text="When the tick last polled it (backends with a change feed only).")

    class Meta:
        ordering = ["group", "attempt"]
        constraints = [models.UniqueConstraint(fields=["group", "attempt"], name="campaigns_job_group_attempt")]
        indexes = [
            models.Index(fields=["status", "backend"]),
            # the batched poll walks running jobs in id order
            models.Index(fields=["id"], condition=models.Q(status__in=JOB_POLLED_STATES),
                         name="campaigns_job_polled_idx"),
            # a backend with a change feed: the last poll (max) and the fair sweep (least recently polled first)
            # use campaigns_job_sweep_idx (backend, polled_at NULLS FIRST, id), made by migration 0008 on
            # PostgreSQL only: SQLite has no NULLS FIRST in an index (its sweep sorts the running jobs instead).
            # the jobs a change feed names by an external id (PanDA's request id, see Changes)
            models.Index(KeyTransform("request_id", "external_ids"),
                         condition=models.Q(status__in=JOB_POLLED_STATES), name="campaigns_job_request_idx"),
            # PanDA's settling requests, polled every tick (Changes.flagged_key)
            models.Index(fields=["id"], name="campaigns_job_settling_idx",
                         condition=models.Q(status__in=JOB_POLLED_STATES, external_ids__settling=True)),
        ]

    def __str__(self) -> str:
        return self.workflow_name

    def event_campaign_id(self) -> int | None:
        return self.group.campaign_id if self.group_id else None

    def start(self, *, external_ids: dict | None = None, actor=None, comment: str = "") -> None:
        """prepared -> running: the backend took the submission."""
        extra = {"external_ids": external_ids} if external_ids is not None else {}
        self._transition("start", actor=actor, comment=comment, submitted_at=timezone.now(), **extra)

    def accept(self, *, actor=None, comment: str = "") -> None:
        """running -> accepted."""
        self._transition("accept", actor=actor, comment=comment, finished_at=timezone.now())

    def fail(self, error: str = "", *, actor=None) -> None:
        """prepared|running -> failed."""
        self._transition("fail", actor=actor, comment=error[:500], error=error, finished_at=timezone.now())

    def review(self, error: str = "", *, actor=None) -> None:
        """running -> reviewable: some quanta failed."""
        self._transition("review", actor=actor, comment=error[:500], error=error, finished_at=timezone.now())

    def block(self, reason: str = "", *, actor=None) -> None:
        """running -> blocked."""
        self._transition("block", actor=actor, comment=reason)

    def unblock(self, *, actor=None, comment: str = "") -> None:
        """blocked -> running."""
        self._transition("unblock", actor=actor, comment=comment)

    def supersede(self, *, actor=None, comment: str = "") -> None:
        """failed|reviewable -> rescued: a rescue attempt takes over."""
        self._transition("supersede", actor=actor, comment=comment)

    def reject(self, *, actor=None, comment: str = "") -> None:
        """prepared|running|blocked|failed|reviewable -> rejected."""
        self._transition("reject", actor=actor, comment=comment, finished_at=timezone.now())


# State sets the summaries, progress, ETA and API share, derived from the tables above (never written out).
# Work in flight: the states an attempt is moved on from by msproc or its backend (start, accept, fail, review,
# block, unblock): prepared, running, blocked. A group with such an attempt is in the same state.
ACTIVE_STATES = Job.sources_of("start", "accept", "fail", "review", "block", "unblock")
# Waiting for an operator: what a retry, rescue or force_accept may leave (failed, reviewable, blocked), and
# a group an operator's rescue made rescuable, until it is prepared again.
ATTENTION_STATES = Group.sources_of("retry", "rescue", "force_accept") | Group.targets_of("rescue")


class Heartbeat(models.Model):
    """The last sign of life of one msproc process: the reconcile tick, each Celery worker, beat.

    Written by the tick after each run (``campaigns.tasks.reconcile``), by every worker every
    MSPROC_HEARTBEAT_SECONDS (``msproc.celery.HeartbeatStep``) and by beat's scheduler
    (``msproc.beat.Scheduler``); read by ``campaigns.liveness``.
    """

    class Kind(models.TextChoices):
        TICK = "tick", "reconcile tick"
        WORKER = "worker", "Celery worker"
        BEAT = "beat", "Celery beat"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    name = models.CharField(max_length=200, help_text="The worker's node name; the tick's and beat's host.")
    pid = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(default=timezone.now, help_text="When this process started.")
    last_seen = models.DateTimeField(default=timezone.now)
    stopped = models.BooleanField(default=False, help_text="The process said goodbye (a clean shutdown).")
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["kind", "name"]
        constraints = [models.UniqueConstraint(fields=["kind", "name"], name="campaigns_heartbeat_kind_name")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.name}"


STALL_MAX = timedelta(days=365)  # longer means never; and the tick adds it to dates (an overflow past year 9999)


class StallThreshold(models.Model):
    """How long a group or movement may sit in one state before the home page calls it stalled.

    Staff edit these in the admin; a state without a row uses ``campaigns.summaries.STALL_DEFAULTS``.
    """

    class Kind(models.TextChoices):
        GROUP = "group", "group"
        MOVEMENT = "movement", "movement"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, help_text="The state, e.g. running or registering.")
    after = models.DurationField(help_text="Stalled after this long in the state, e.g. 02:00:00.")

    class Meta:
        ordering = ["kind", "status"]
        constraints = [models.UniqueConstraint(fields=["kind", "status"], name="campaigns_stallthreshold_kind_status")]

    def __str__(self) -> str:
        return f"{self.kind} {self.status} after {self.after}"

    def clean(self) -> None:
        choices = Status if self.kind == self.Kind.GROUP else MovementStatus
        if self.status not in choices.values:
            raise ValidationError({"status": f"not a {self.kind} state; one of: {', '.join(choices.values)}"})
        if self.after is not None and self.after.total_seconds() <= 0:
            raise ValidationError({"after": "must be positive"})
        if self.after is not None and self.after > STALL_MAX:
            raise ValidationError({"after": f"must be at most {STALL_MAX.days} days"})
