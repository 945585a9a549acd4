"""A campaign's per-site timeline (Gantt): when each step ran at each site and when the data it waited for moved.

Each site gets one row per step that ran there: first the bar of the movements that gate the step at that
site (from the first one's start to the last one's end), then the bar of the step's groups there (first
start to last finish). The gap, or the overlap, between the two bars is the gating of the step by its
movements. Returns and archives (which gate no step) get rows of their own at their destination. Bars of
unfinished work run to now. Geometry is computed here and drawn by ``campaigns/_timeline.html`` as SVG.

Two grouped queries whatever the number of groups and movements.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from django.db.models import Count, Max, Min, Q, Sum
from django.utils import timezone

from transfers.models import Movement

from .charts import time_ticks
from .models import Campaign, Group
from .summaries import campaign_span

ROW = 20
LABEL = 150
WIDTH = 960
TOP = 8
AXIS = 24


@dataclasses.dataclass
class Bar:
    """One bar: ``x``/``width`` in SVG units; ``kind`` is "groups" or "movements"; ``state`` colours it."""

    kind: str
    label: str
    start: datetime
    end: datetime | None
    total: int
    done: int
    state: str
    url: str = ""
    x: float = 0.0
    width: float = 0.0
    bytes: int = 0

    @property
    def finished(self) -> bool:
        return self.end is not None and self.done == self.total


@dataclasses.dataclass
class Row:
    site: str
    label: str
    bars: list[Bar]
    y: float = 0.0
    first_of_site: bool = False


@dataclasses.dataclass
class Timeline:
    rows: list[Row]
    width: int
    height: int
    left: int
    right: int
    axis_y: float
    ticks: list[tuple[float, str]]
    start: datetime | None
    end: datetime | None

    @property
    def empty(self) -> bool:
        return not self.rows


def _state(total: int, done: int, failed: int, started: bool) -> str:
    if failed:
        return "danger"
    if total and done == total:
        return "success"
    return "primary" if started else "secondary"


def campaign_timeline(campaign: Campaign, now: datetime | None = None) -> Timeline:
    """Return the Gantt of ``campaign`` (see the module docstring). Two queries."""
    from django.urls import reverse

    now = now or timezone.now()
    groups = (
        Group.objects.filter(campaign=campaign, started_at__isnull=False).order_by()
        .values("site__code", "step_id", "step__name", "step__order")
        .annotate(start=Min("started_at"), end=Max("finished_at"), total=Count("pk"),
                  done=Count("pk", filter=Q(status__in=Group.final_states())),
                  failed=Count("pk", filter=Q(status__in=Group.sources_of("retry"))))
    )
    movements = (
        Movement.objects.filter(campaign=campaign, started_at__isnull=False).order_by()
        .values("destination__code", "before_step_id", "before_step__name", "before_step__order", "kind")
        .annotate(start=Min("started_at"), end=Max("finished_at"), total=Count("pk"),
                  done=Count("pk", filter=Q(status__in=Movement.final_states())),
                  failed=Count("pk", filter=Q(status__in=Movement.sources_of("retry"))),
                  moved=Sum("bytes"))
    )
    rows: dict[tuple[str, int, str], Row] = {}
    group_list = reverse("campaigns:group-list")
    movement_list = reverse("transfers:movement-list")
    for row in groups:
        key = (row["site__code"], row["step__order"], row["step__name"])
        bar = Bar("groups", f"{row['step__name']} at {row['site__code']}", row["start"],
                  row["end"] if row["done"] == row["total"] else None, row["total"], row["done"],
                  _state(row["total"], row["done"], row["failed"], True),
                  url=f"{group_list}?campaign={campaign.pk}&step={row['step__name']}&site={row['site__code']}")
        rows.setdefault(key, Row(row["site__code"], row["step__name"], [])).bars.append(bar)
    for row in movements:
        site = row["destination__code"]
        if row["before_step_id"]:
            key = (site, row["before_step__order"], row["before_step__name"])
            label = row["before_step__name"]
            params = f"&step={row['before_step__name']}"
        else:  # returns and archives gate no step: after every step
            key = (site, 10_000 + (row["kind"] == "archive"), row["kind"])
            label = row["kind"]
            params = f"&kind={row['kind']}"
        bar = Bar("movements", f"{row['kind'].replace('_', '-')} to {site}", row["start"],
                  row["end"] if row["done"] == row["total"] else None, row["total"], row["done"],
                  _state(row["total"], row["done"], row["failed"], True), bytes=row["moved"] or 0,
                  url=f"{movement_list}?campaign={campaign.pk}&destination={site}{params}")
        rows.setdefault(key, Row(site, label, [])).bars.insert(0, bar)
    hub = campaign.hub.code
    ordered = [rows[key] for key in sorted(rows, key=lambda k: (k[0] != hub, k[0], k[1], k[2]))]
    start, end = campaign_span(campaign, now)
    for row in ordered:
        for bar in row.bars:
            start = min(start, bar.start)
            end = max(end, bar.end or now)
    left, right = LABEL, WIDTH - 10
    span = max((end - start).total_seconds(), 1.0)

    def x(when: datetime) -> float:
        return left + (right - left) * (when - start).total_seconds() / span

    previous = None
    for index, row in enumerate(ordered):
        row.y = TOP + index * ROW
        row.first_of_site = row.site != previous
        previous = row.site
        for bar in row.bars:
            bar.x = x(bar.start)
            bar.width = max(x(bar.end or now) - bar.x, 2.0)
    axis_y = TOP + len(ordered) * ROW + 4
    ticks = [(x(when), label) for when, label in time_ticks(start, end)] if ordered else []
    return Timeline(ordered, WIDTH, int(axis_y + AXIS), left, right, axis_y, ticks, start, end)
