"""Site domain logic: the four data facilities' sites, their queues and repositories."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from stack.paths import UnsafePath, check_under
from stack.survey import make_survey

from . import signals
from .butler_roots import file_path
from .choices import DataFacility
from .models import BackendHealth, ButlerRepo, PandaQueue, Site
from .queues import queue_definitions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SiteDefinition:
    """The facts of one site as DOMAIN.md lists them."""

    code: str
    name: str
    facility: str
    compute_site: str
    compute_cloud: str
    queue_prefix: str
    share: Decimal
    is_hub: bool = False
    queues: list[tuple[str, int | None, str]] = field(default_factory=list)

    @property
    def raw_rse(self) -> str:
        return f"{self.code}_RAW_DISK"

    @property
    def butler_rse(self) -> str:
        return f"{self.code}_BUTLER_DISK"

    def queue_definitions(self) -> list[tuple[str, int | None, str]]:
        """Return (name, memory_gb, kind) of every PanDA queue of the site (``sites.queues``)."""
        return queue_definitions(self.queue_prefix)


DOMAIN_SITES: tuple[SiteDefinition, ...] = (
    SiteDefinition("SLAC", "SLAC National Accelerator Laboratory", DataFacility.USDF, "SLAC", "US", "SLAC",
                   Decimal("0.35"), is_hub=True),
    SiteDefinition("IN2P3", "CC-IN2P3 Lyon", DataFacility.FRDF, "CC-IN2P3", "EU", "CC-IN2P3", Decimal("0.40")),
    SiteDefinition("LANCS", "Lancaster University", DataFacility.UKDF, "LANCS", "EU", "LANCS", Decimal("0.10")),
    SiteDefinition("RAL", "Rutherford Appleton Laboratory", DataFacility.UKDF, "RAL", "EU", "RAL", Decimal("0.15")),
)


@dataclass
class LoadReport:
    """What ``load_sites`` created or changed (empty lists: nothing changed)."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)


def local_repo_root(site_code: str, repo_name: str | None = None) -> str:
    """Return the path of a site's embedded Butler repository under the data dir."""
    return str(settings.MSPROC_SITES_DIR / site_code / (repo_name or settings.MSPROC_REPO_NAME))


def local_root(repo: ButlerRepo) -> Path:
    """Return the local directory of an embedded repository, resolved and checked to lie under
    ``MSPROC_SITES_DIR``. Raises `UnsafePath` for a root elsewhere (or a URI): msproc creates and
    deletes embedded repositories only there."""
    return check_under(file_path(repo.root_uri), settings.MSPROC_SITES_DIR, field="root_uri", strict=True)


def _upsert(model, lookup: dict, values: dict, label: str, report: LoadReport):
    obj = model.objects.filter(**lookup).first()
    if obj is None:
        obj = model.objects.create(**lookup, **values)
        report.created.append(label)
        return obj
    dirty = [name for name, value in values.items() if getattr(obj, name) != value]
    if dirty:
        for name in dirty:
            setattr(obj, name, values[name])
        obj.save(update_fields=dirty)
        report.updated.append(f"{label} ({', '.join(dirty)})")
    return obj


@transaction.atomic
def load_sites(definitions: tuple[SiteDefinition, ...] = DOMAIN_SITES) -> LoadReport:
    """Create or update the sites of DOMAIN.md with their queues, RSEs and Butler repository records.

    Running it twice changes nothing the second time. Operational fields an
    operator sets (status, backends) are left as they are on existing sites.
    Returns what was created or updated.
    """
    report = LoadReport()
    # Clear a stale hub flag first so the one-hub constraint never trips mid-way.
    hub_codes = {d.code for d in definitions if d.is_hub}
    Site.objects.filter(is_hub=True).exclude(code__in=hub_codes).update(is_hub=False)
    for definition in definitions:
        site = _upsert(
            Site,
            {"code": definition.code},
            {
                "name": definition.name,
                "facility": definition.facility,
                "compute_site": definition.compute_site,
                "compute_cloud": definition.compute_cloud,
                "queue_prefix": definition.queue_prefix,
                "raw_rse": definition.raw_rse,
                "butler_rse": definition.butler_rse,
                "share": definition.share,
                "is_hub": definition.is_hub,
            },
            f"site {definition.code}",
            report,
        )
        for name, memory_gb, kind in definition.queue_definitions():
            _upsert(PandaQueue, {"name": name}, {"site": site, "memory_gb": memory_gb, "kind": kind},
                    f"queue {name}", report)
        _upsert(ButlerRepo, {"site": site, "name": settings.MSPROC_REPO_NAME},
                {"root_uri": local_repo_root(site.code)}, f"butler repo {settings.MSPROC_REPO_NAME}@{site.code}",
                report)
    return report


def hub_site() -> Site:
    """Return the hub site. Raises Site.DoesNotExist if none is defined (run load_sites)."""
    return Site.objects.get(is_hub=True)


# ---------------------------------------------------------------------------------------------- embedded sites


def _survey():
    return make_survey()


def setup_local_sites(*, rinse: bool = False, actor=None) -> dict[str, str]:
    """Create every site's local Butler repository (the embedded default); return {site: outcome}.

    The hub gets the synthetic survey: all dimension records, raws and the
    defaults (calibs, refcats, look-up tables); other sites get the
    instrument and skymap records only, and receive raws and defaults by
    the campaigns' setup movements. With ``rinse`` every repository and
    every record msproc holds of it (replicas) is torn down first and
    rebuilt from scratch. A site whose repository is ready is left as it is.
    """
    from stack.defaults import populate_hub
    from stack.repo import create_repo, insert_instrument, insert_skymap, remove_repo

    survey = _survey()
    outcome: dict[str, str] = {}
    repos = ButlerRepo.objects.filter(name=settings.MSPROC_REPO_NAME).select_related("site").order_by(
        "-site__is_hub", "site__code")
    for repo in repos:
        if rinse and repo.status in ButlerRepo.sources_of("start_teardown"):
            repo.start_teardown(actor=actor, comment="rinse-and-repeat")
        if repo.status == "tearing_down":
            try:
                remove_repo(local_root(repo), within=settings.MSPROC_SITES_DIR)
            except UnsafePath as exc:
                repo.mark_failed(f"not removed: {exc}", actor=actor)
                outcome[repo.site.code] = f"failed: {exc}"
                continue
            repo.replicas.all().delete()
            repo.mark_absent(actor=actor, comment="repository removed")
        if repo.status == "ready":
            outcome[repo.site.code] = "ready"
            continue
        other = repo.overlapping()
        if other is not None:  # never remove or write another repository's files
            if repo.status in ButlerRepo.sources_of("start_creating"):
                repo.start_creating(actor=actor)
            repo.mark_failed(f"not created: {repo.root_overlap_error()}", actor=actor)
            outcome[repo.site.code] = f"failed: its root overlaps {other}'s"
            continue
        repo.start_creating(actor=actor)
        try:
            root = local_root(repo)
            remove_repo(root, within=settings.MSPROC_SITES_DIR)  # leftovers of a failed attempt
            butler = create_repo(root)
            if repo.site.is_hub:
                populate_hub(butler, survey)
            else:
                insert_instrument(butler, survey)
                insert_skymap(butler, survey)
        except Exception as exc:  # the Butler raises many kinds; the repo records why
            repo.mark_failed(f"{type(exc).__name__}: {exc}", actor=actor)
            outcome[repo.site.code] = f"failed: {exc}"
            continue
        repo.mark_ready(actor=actor, comment="created by setup_sites" + (" --rinse" if rinse else ""))
        signals.repository_ready.send(sender=ButlerRepo, repo=repo)  # transfers records what it holds
        outcome[repo.site.code] = "created"
    return outcome


# ---------------------------------------------------------------------------------------- backend health


def report_backend_failure(kind: str, backend: str, operation: str, error: str) -> None:
    """Record that a call to a backend's service failed (see ``BackendHealth``). Never raises.

    Called by the orchestration outside its transactions, only on failure: one or two queries then.
    """
    now, quiet = timezone.now(), failing_since()
    message = str(error)[:4000]
    try:
        for _ in range(2):  # a second round only when another worker created the row at the same moment
            with transaction.atomic():
                row = BackendHealth.objects.select_for_update().filter(kind=kind, backend=backend).first()
                if row is None:
                    try:
                        with transaction.atomic():
                            BackendHealth.objects.create(kind=kind, backend=backend, operation=operation,
                                                         last_error=message, failures=1, first_failure_at=now,
                                                         last_failure_at=now)
                        return
                    except IntegrityError:
                        continue
                if row.last_failure_at < quiet:
                    row.first_failure_at, row.failures = now, 0
                row.failures += 1
                row.operation, row.last_error, row.last_failure_at = operation, message, now
                row.save()
                return
    except Exception:  # health reporting must never break the work it reports on
        log.exception("could not record the failure of %s backend %s", kind, backend)


def failing_window() -> str:
    """How recent a backend failure must be to show the backend as failing, for people (e.g. "10 minutes")."""
    seconds = settings.MSPROC_BACKEND_FAILING_SECONDS
    return f"{seconds // 60} minutes" if seconds % 60 == 0 else f"{seconds} seconds"


def failing_since():
    """A backend whose last failure is at or after this time is failing (``MSPROC_BACKEND_FAILING_SECONDS``)."""
    return timezone.now() - timedelta(seconds=settings.MSPROC_BACKEND_FAILING_SECONDS)


def failing_backends():
    """Return the backends failing now (one query)."""
    return list(BackendHealth.objects.filter(last_failure_at__gte=failing_since()))
