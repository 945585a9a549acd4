"""Sites (PanDA compute sites of the data facilities), their Butler repositories and PanDA queues."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q

from core.lifecycle import StatefulModel

from .butler_roots import overlaps, validate_registry_url, validate_root_uri
from .choices import DataFacility, ExecutionBackend, QueueKind, RepoStatus, SiteStatus, TransferBackend

S = SiteStatus
R = RepoStatus


class Site(StatefulModel):
    """A PanDA compute site with its Rucio storage and Butler repository.

    Lifecycle::

        online --drain--> draining --take_offline--> offline
           ^                  |                         |
           +----bring_online--+--------bring_online-----+
        online --take_offline--> offline

    Exactly one site is the hub (USDF at SLAC): global steps run there and
    final outputs return there.
    """

    TRANSITIONS = {
        "drain": ({S.ONLINE}, S.DRAINING),
        "take_offline": ({S.ONLINE, S.DRAINING}, S.OFFLINE),
        "bring_online": ({S.DRAINING, S.OFFLINE}, S.ONLINE),
    }

    code = models.CharField(
        max_length=32,
        unique=True,
        validators=[RegexValidator(r"^[A-Z0-9][A-Z0-9_-]*$", "Use upper-case letters, digits, - and _.")],
        help_text="Short site code, e.g. SLAC, IN2P3, LANCS, RAL.",
    )
    name = models.CharField(max_length=128)
    facility = models.CharField(max_length=8, choices=DataFacility.choices)
    compute_site = models.CharField(max_length=64, help_text="BPS computeSite.")
    compute_cloud = models.CharField(max_length=16, help_text="BPS computeCloud.")
    queue_prefix = models.CharField(max_length=64, help_text="PanDA queue prefix, e.g. SLAC for SLAC_Rubin_8G.")
    raw_rse = models.CharField(max_length=64, help_text="Rucio RSE for raws.")
    butler_rse = models.CharField(max_length=64, help_text="Rucio RSE for Butler datasets.")
    share = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1"))],
        help_text="Planned processing share (0..1).",
    )
    is_hub = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=SiteStatus.choices, default=S.ONLINE, db_index=True)
    execution_backend = models.CharField(
        max_length=16, choices=ExecutionBackend.choices, default=ExecutionBackend.LOCAL
    )
    transfer_backend = models.CharField(
        max_length=16, choices=TransferBackend.choices, default=TransferBackend.LOCAL
    )

    class Meta:
        ordering = ["-is_hub", "code"]
        constraints = [
            models.UniqueConstraint(fields=["is_hub"], condition=Q(is_hub=True), name="sites_site_one_hub",
                                    violation_error_message="Another site is the hub already: there is one hub "
                                                            "(unset it there first)."),
            models.CheckConstraint(condition=Q(share__gte=0) & Q(share__lte=1), name="sites_site_share_0_1"),
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def accepts_work(self) -> bool:
        """True when new groups may be submitted here (online only)."""
        return self.status == S.ONLINE

    def execution_backend_name(self) -> str:
        """The backend this site's groups run on: the MSPROC_EXECUTION_BACKEND override, else the site's own."""
        from django.conf import settings

        return settings.MSPROC_EXECUTION_BACKEND or self.execution_backend

    def transfer_backend_name(self) -> str:
        """The backend that carries movements to this site: the MSPROC_TRANSFER_BACKEND override, else its own."""
        from django.conf import settings

        return settings.MSPROC_TRANSFER_BACKEND or self.transfer_backend

    def drain(self, *, actor=None, comment: str = "") -> None:
        """online -> draining: running work finishes, nothing new starts."""
        self._transition("drain", actor=actor, comment=comment)

    def take_offline(self, *, actor=None, comment: str = "") -> None:
        """online|draining -> offline."""
        self._transition("take_offline", actor=actor, comment=comment)

    def bring_online(self, *, actor=None, comment: str = "") -> None:
        """draining|offline -> online."""
        self._transition("bring_online", actor=actor, comment=comment)


class ButlerRepo(StatefulModel):
    """A site's Butler repository. The repository name is the same at every site.

    Lifecycle::

        absent --start_creating--> creating --mark_ready--> ready
          ^                           |                       |
          |                        mark_failed         start_teardown
          |                           v                       v
          +----mark_absent----- tearing_down <----------- failed
    """

    TRANSITIONS = {
        "start_creating": ({R.ABSENT, R.FAILED}, R.CREATING),
        "mark_ready": ({R.CREATING}, R.READY),
        "mark_failed": ({R.CREATING, R.TEARING_DOWN}, R.FAILED),
        "start_teardown": ({R.READY, R.FAILED}, R.TEARING_DOWN),
        "mark_absent": ({R.TEARING_DOWN}, R.ABSENT),
    }

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="butler_repos")
    name = models.CharField(max_length=64, help_text="Repository name, identical at every site (e.g. dp2).")
    root_uri = models.CharField(
        max_length=1024, validators=[validate_root_uri],
        help_text="Butler root: a path under MSPROC_SITES_DIR or MSPROC_BUTLER_ROOTS, or a URI under "
                  "MSPROC_BUTLER_URI_PREFIXES (sites/butler_roots.py).")
    registry_url = models.CharField(max_length=1024, blank=True, validators=[validate_registry_url],
                                    help_text="Registry database URL (postgresql://...), if not SQLite.")
    status = models.CharField(max_length=16, choices=RepoStatus.choices, default=R.ABSENT, db_index=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["site__code", "name"]
        constraints = [models.UniqueConstraint(fields=["site", "name"], name="sites_butlerrepo_site_name")]
        verbose_name = "Butler repository"
        verbose_name_plural = "Butler repositories"

    def __str__(self) -> str:
        return f"{self.name}@{self.site_id and self.site.code}"

    def overlapping(self) -> ButlerRepo | None:
        """Return another repository whose root equals, contains or lies inside this one's, or None.

        Two repositories sharing a directory would write over each other, and re-creating one (setup_sites
        removes a failed attempt's leftovers first) would delete the other. One query.
        """
        others = ButlerRepo.objects.exclude(pk=self.pk).select_related("site").only("root_uri", "name", "site__code")
        return next((other for other in others if overlaps(self.root_uri, other.root_uri)), None)

    def root_overlap_error(self) -> str | None:
        """Return why ``root_uri`` cannot be this repository's (another one's directory), or None."""
        other = self.overlapping() if self.root_uri else None
        if other is None:
            return None
        return f"overlaps the root of {other} ({other.root_uri}): every repository needs a directory of its own"

    def clean(self) -> None:
        """Refuse a root another repository already uses (also its parent or a directory inside it)."""
        problem = self.root_overlap_error()
        if problem:
            raise ValidationError({"root_uri": problem})

    def start_creating(self, *, actor=None, comment: str = "") -> None:
        """absent|failed -> creating."""
        self._transition("start_creating", actor=actor, comment=comment)

    def mark_ready(self, *, actor=None, comment: str = "") -> None:
        """creating -> ready."""
        self._transition("mark_ready", actor=actor, comment=comment, last_error="")

    def mark_failed(self, error: str, *, actor=None) -> None:
        """creating|tearing_down -> failed, keeping the error."""
        self._transition("mark_failed", actor=actor, comment=error[:500], last_error=error)

    def start_teardown(self, *, actor=None, comment: str = "") -> None:
        """ready|failed -> tearing_down."""
        self._transition("start_teardown", actor=actor, comment=comment)

    def mark_absent(self, *, actor=None, comment: str = "") -> None:
        """tearing_down -> absent."""
        self._transition("mark_absent", actor=actor, comment=comment)


class PandaQueue(models.Model):
    """A PanDA queue of a site, e.g. SLAC_Rubin_8G (memory tier 8 GB) or SLAC_Rubin_Merge."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="queues")
    name = models.CharField(max_length=128, unique=True, validators=[RegexValidator(
        r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", "A PanDA queue name: letters, digits, '_', '.' and '-' (no spaces).")])
    memory_gb = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Memory tier in GB, if any.")
    kind = models.CharField(max_length=16, choices=QueueKind.choices, default=QueueKind.STANDARD)

    class Meta:
        ordering = ["site__code", "kind", "memory_gb", "name"]
        indexes = [models.Index(fields=["site", "kind", "memory_gb"])]
        verbose_name = "PanDA queue"

    def __str__(self) -> str:
        return self.name


class BackendHealth(models.Model):
    """Failures of a backend's external service (PanDA, Rucio, ...) as the workers met them.

    One row per (kind, backend), written only when a call to the service fails, so the steady state
    costs nothing; ``first_failure_at``/``failures`` describe the current run of failures (a failure
    after a quiet ``MSPROC_BACKEND_FAILING_SECONDS`` starts a new run). A backend is *failing* while its
    last failure is that recent. Work is never lost to these failures: the calls are retried.
    """

    kind = models.CharField(max_length=16, choices=[("execution", "execution"), ("transfer", "transfer")])
    backend = models.CharField(max_length=16)
    operation = models.CharField(max_length=32, help_text="What failed last, e.g. poll, submit, start.")
    last_error = models.TextField()
    failures = models.PositiveIntegerField(default=0, help_text="Failures in the current run.")
    first_failure_at = models.DateTimeField()
    last_failure_at = models.DateTimeField()

    class Meta:
        ordering = ["kind", "backend"]
        constraints = [models.UniqueConstraint(fields=["kind", "backend"], name="sites_backendhealth_kind_backend")]
        verbose_name_plural = "backend health"

    def __str__(self) -> str:
        return f"{self.kind} backend {self.backend}"
