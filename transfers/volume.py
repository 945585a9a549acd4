"""How much data moved between which sites: the site × site volume matrix and a site's throughput history.

Each function runs a fixed number of grouped queries, whatever the number of movements. A movement from several
sources (a fan-in) is counted under each of its sources in the matrix cells, and once in the row and column
totals, which come from the movements themselves.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from django.db.models import Count, DurationField, ExpressionWrapper, F, Max, Min, Q, QuerySet, Sum
from django.utils import timezone

from core.timing import bucket_for
from sites.models import Site

from .choices import MovementStatus
from .models import Movement

DONE = MovementStatus.DONE


@dataclasses.dataclass
class Flow:
    """What moved over one link (or into/out of one site): bytes, datasets, movements, time spent moving."""

    source: str = ""
    destination: str = ""
    bytes: int = 0
    datasets: int = 0
    movements: int = 0
    done: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        """Bytes per second over the time the done movements took (0 when none took any)."""
        return self.bytes / self.seconds if self.seconds else 0.0


@dataclasses.dataclass
class VolumeMatrix:
    """Sources (rows) × destinations (columns); ``cells[(source, destination)]``; totals per row and column."""

    sites: list[str]
    cells: dict[tuple[str, str], Flow]
    outgoing: dict[str, Flow]
    incoming: dict[str, Flow]
    total: Flow

    def rows(self) -> list[tuple[str, list[Flow | None], Flow]]:
        return [(source, [self.cells.get((source, destination)) for destination in self.sites],
                 self.outgoing.get(source, Flow(source=source))) for source in self.sites]

    def column_totals(self) -> list[Flow]:
        return [self.incoming.get(code, Flow(destination=code)) for code in self.sites]


_DURATION = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())


def _seconds(value: timedelta | None) -> float:
    return value.total_seconds() if value else 0.0


def _aggregates(prefix: str = "") -> dict:
    """Sums over movements (``prefix`` reaches them from another model, e.g. ``movement__``)."""
    done = Q(**{f"{prefix}status": DONE})
    duration = ExpressionWrapper(F(f"{prefix}finished_at") - F(f"{prefix}started_at"), output_field=DurationField())
    return {
        "bytes_sum": Sum(f"{prefix}bytes"),
        "datasets_sum": Sum(f"{prefix}ingested_count"),
        "movements_n": Count(f"{prefix}id" if prefix else "id"),
        "done_n": Count(f"{prefix}id" if prefix else "id", filter=done),
        "time_sum": Sum(duration, filter=done),
    }


def _flow(row: dict, **names: str) -> Flow:
    return Flow(bytes=row["bytes_sum"] or 0, datasets=row["datasets_sum"] or 0, movements=row["movements_n"],
                done=row["done_n"], seconds=_seconds(row["time_sum"]), **names)


def volume_matrix(movements: QuerySet[Movement] | None = None) -> VolumeMatrix:
    """Return the site × site matrix of ``movements`` (default: all). Five queries."""
    movements = Movement.objects.all() if movements is None else movements
    through = Movement.sources.through
    pairs = (through.objects.filter(movement__in=movements.values("pk"))
             .values("site__code", "movement__destination__code").annotate(**_aggregates("movement__"))
             .order_by())
    cells = {(row["site__code"], row["movement__destination__code"]):
             _flow(row, source=row["site__code"], destination=row["movement__destination__code"]) for row in pairs}
    incoming = {row["destination__code"]: _flow(row, destination=row["destination__code"])
                for row in movements.values("destination__code").annotate(**_aggregates()).order_by()}
    outgoing = {row["site__code"]: _flow(row, source=row["site__code"])
                for row in through.objects.filter(movement__in=movements.values("pk"))
                .values("site__code").annotate(**_aggregates("movement__")).order_by()}
    total = movements.order_by().aggregate(**_aggregates())
    codes = {code for pair in cells for code in pair}
    hubs = set(Site.objects.filter(code__in=codes, is_hub=True).values_list("code", flat=True))
    sites = sorted(codes, key=lambda code: (code not in hubs, code))
    return VolumeMatrix(sites=sites, cells=cells, outgoing=outgoing, incoming=incoming,
                        total=_flow(total) if total["movements_n"] else Flow())


@dataclasses.dataclass
class Throughput:
    """Bytes per bucket into and out of a site: ``incoming``/``outgoing`` are ``[(bucket start, bytes)]``."""

    width: timedelta
    start: datetime | None
    end: datetime | None
    incoming: list[tuple[datetime, float]]
    outgoing: list[tuple[datetime, float]]


def site_throughput(site: Site) -> Throughput:
    """Return the bytes that arrived at and left ``site`` per time bucket, by when movements finished.

    Three queries: the span of its finished movements, then one grouped query per direction.
    """
    done = Movement.objects.filter(status=DONE, finished_at__isnull=False)
    mine = done.filter(Q(destination=site) | Q(sources=site))
    span = mine.order_by().aggregate(start=Min("finished_at"), end=Max("finished_at"))
    if span["start"] is None:
        return Throughput(timedelta(hours=1), None, None, [], [])
    trunc, width = bucket_for(span["end"] - span["start"])

    def series(movements: QuerySet) -> list[tuple[datetime, float]]:
        rows = (movements.annotate(bucket=trunc("finished_at")).values("bucket")
                .annotate(n=Sum("bytes")).order_by("bucket"))
        return [(row["bucket"], float(row["n"] or 0)) for row in rows]

    return Throughput(width, span["start"], span["end"] or timezone.now(),
                      series(done.filter(destination=site)), series(done.filter(sources=site)))
