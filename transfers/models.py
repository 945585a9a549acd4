"""Dataset types, replicas in Butler repositories, and movements of data between sites."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from core.leases import LeasedModel
from core.lifecycle import StatefulModel

from .choices import MovementKind, MovementStatus

M = MovementStatus


class DatasetType(models.Model):
    """A Butler dataset type: name, dimensions and storage class."""

    name = models.CharField(max_length=128, unique=True)
    dimensions = models.JSONField(default=list, blank=True, help_text="Dimension names, e.g. visit, detector.")
    storage_class = models.CharField(max_length=128, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Replica(models.Model):
    """How many datasets of a type a collection holds in one Butler repository, and their bytes."""

    butler_repo = models.ForeignKey("sites.ButlerRepo", on_delete=models.CASCADE, related_name="replicas")
    dataset_type = models.ForeignKey(DatasetType, on_delete=models.CASCADE, related_name="replicas")
    collection = models.CharField(max_length=512)
    count = models.PositiveIntegerField(default=0)
    bytes = models.PositiveBigIntegerField(default=0)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["butler_repo", "dataset_type__name", "collection"]
        constraints = [
            models.UniqueConstraint(fields=["butler_repo", "dataset_type", "collection"],
                                    name="transfers_replica_repo_type_collection")
        ]

    def __str__(self) -> str:
        return f"{self.dataset_type.name} x{self.count} in {self.collection} @ {self.butler_repo}"


class Movement(LeasedModel, StatefulModel):
    """Data that must move between sites before a step can run there.

    Lifecycle::

        planned --make_ready--> ready --start_registering--> registering
            --start_transferring--> transferring --start_ingesting--> ingesting --finish--> done
        registering|transferring|ingesting --mark_stuck--> stuck --retry--> ready
        registering|transferring|ingesting|stuck --fail--> failed --retry--> ready
        planned|ready|stuck|failed --cancel--> cancelled

    A movement is done only when the datasets are queryable in the
    destination Butler and their count matches the plan.
    """

    TRANSITIONS = {
        "make_ready": ({M.PLANNED}, M.READY),
        "start_registering": ({M.READY}, M.REGISTERING),
        "start_transferring": ({M.REGISTERING}, M.TRANSFERRING),
        "start_ingesting": ({M.TRANSFERRING}, M.INGESTING),
        "finish": ({M.INGESTING}, M.DONE),
        "mark_stuck": ({M.REGISTERING, M.TRANSFERRING, M.INGESTING}, M.STUCK),
        "fail": ({M.REGISTERING, M.TRANSFERRING, M.INGESTING, M.STUCK}, M.FAILED),
        "retry": ({M.STUCK, M.FAILED}, M.READY),
        "cancel": ({M.PLANNED, M.READY, M.STUCK, M.FAILED}, M.CANCELLED),
    }

    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, related_name="movements")
    key = models.CharField(max_length=200, help_text="The plan's key of this movement, unique in a campaign.")
    kind = models.CharField(max_length=16, choices=MovementKind.choices)
    sources = models.ManyToManyField("sites.Site", related_name="outgoing_movements")
    destination = models.ForeignKey("sites.Site", on_delete=models.PROTECT, related_name="incoming_movements")
    dataset_types = models.ManyToManyField(DatasetType, related_name="movements")
    collections = models.JSONField(default=list, blank=True)
    data_ids = models.JSONField(default=dict, blank=True, help_text="Data-ID constraint, e.g. {\"visit\": [1, 2]}.")
    before_step = models.ForeignKey("campaigns.Step", null=True, blank=True, on_delete=models.CASCADE,
                                    related_name="gating_movements", help_text="The step it must finish before.")
    after_steps = models.ManyToManyField("campaigns.Step", blank=True, related_name="feeding_movements",
                                         help_text="Steps whose outputs it carries.")
    after_movements = models.ManyToManyField("self", symmetrical=False, blank=True, related_name="followers",
                                             help_text="Movements that must be done first (archive after returns).")
    expected_count = models.PositiveIntegerField(null=True, blank=True)
    transferred_count = models.PositiveIntegerField(default=0)
    ingested_count = models.PositiveIntegerField(default=0)
    bytes = models.PositiveBigIntegerField(default=0)
    external_ids = models.JSONField(default=dict, blank=True, help_text="e.g. Rucio rule ids.")
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=MovementStatus.choices, default=M.PLANNED, db_index=True)
    created = models.DateTimeField(default=timezone.now)
    updated = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    polled_at = models.DateTimeField(null=True, blank=True, editable=False,
                                     help_text="When the tick last polled or re-enqueued it: batches take the "
                                               "least recently polled first, so every movement gets its turn.")

    class Meta:
        ordering = ["campaign", "id"]
        constraints = [models.UniqueConstraint(fields=["campaign", "key"], name="transfers_movement_campaign_key")]
        indexes = [
            models.Index(fields=["campaign", "status"]),
            models.Index(fields=["destination", "status"]),
            models.Index(fields=["status", "status_changed_at"]),
            models.Index(fields=["status", "polled_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key}"

    def event_campaign_id(self) -> int | None:
        return self.campaign_id

    def make_ready(self, *, actor=None, comment: str = "") -> None:
        """planned -> ready: what it carries has been produced."""
        self._transition("make_ready", actor=actor, comment=comment)

    def start_registering(self, *, holder: str = "", actor=None, comment: str = "") -> None:
        """ready -> registering (one more attempt), held by ``holder`` (core.leases) from now on."""
        self._transition("start_registering", actor=actor, comment=comment,
                         attempts=models.F("attempts") + 1, started_at=timezone.now(), holder=holder,
                         heartbeat_at=timezone.now() if holder else None)
        self.refresh_from_db(fields=["attempts"])

    def start_transferring(self, *, external_ids: dict | None = None, actor=None, comment: str = "") -> None:
        """registering -> transferring."""
        extra = {"external_ids": external_ids} if external_ids is not None else {}
        self._transition("start_transferring", actor=actor, comment=comment, **extra)

    def start_ingesting(self, *, transferred: int, bytes_: int = 0, actor=None, comment: str = "") -> None:
        """transferring -> ingesting, recording how many datasets arrived."""
        self._transition("start_ingesting", actor=actor, comment=comment, transferred_count=transferred, bytes=bytes_)

    def finish(self, *, ingested: int, actor=None, comment: str = "") -> None:
        """ingesting -> done, recording how many datasets are queryable at the destination."""
        self._transition("finish", actor=actor, comment=comment, ingested_count=ingested,
                         finished_at=timezone.now(), last_error="")

    def mark_stuck(self, reason: str, *, actor=None) -> None:
        """registering|transferring|ingesting -> stuck (e.g. a Rucio rule STUCK), keeping the reason."""
        self._transition("mark_stuck", actor=actor, comment=reason[:500], last_error=reason)

    def fail(self, error: str, *, actor=None) -> None:
        """registering|transferring|ingesting|stuck -> failed, keeping the error."""
        self._transition("fail", actor=actor, comment=error[:500], last_error=error)

    def retry(self, *, actor=None, comment: str = "") -> None:
        """stuck|failed -> ready: try again."""
        self._transition("retry", actor=actor, comment=comment)

    def cancel(self, *, actor=None, comment: str = "") -> None:
        """planned|ready|stuck|failed -> cancelled."""
        self._transition("cancel", actor=actor, comment=comment)
