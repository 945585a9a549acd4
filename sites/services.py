"""Site domain logic: the four data facilities' sites, their queues and repositories."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import transaction

from .choices import DataFacility, QueueKind
from .models import ButlerRepo, PandaQueue, Site

MEMORY_TIERS_GB = (4, 8, 12, 16, 20, 24, 28, 32)


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
        """Return (name, memory_gb, kind) of every PanDA queue of the site."""
        prefix = self.queue_prefix
        queues = [(f"{prefix}_Rubin_{gb}G", gb, QueueKind.STANDARD) for gb in MEMORY_TIERS_GB]
        queues += [
            (f"{prefix}_Rubin_Merge", None, QueueKind.MERGE),
            (f"{prefix}_Rubin_Extra_Himem", None, QueueKind.HIMEM),
            (f"{prefix}_Rubin_Multi", None, QueueKind.MULTICORE),
        ]
        return queues


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
