"""Line charts as inline SVG geometry, computed server-side (no JavaScript charting library).

The time axis spans what it is given (a campaign's start to its end, or to now), never rounded out to whole
hours, and carries a few ticks whose labels show as much of the time as the span needs (seconds for a span of
minutes, dates for a span of days).
"""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from core.timing import bucket_name
from transfers.volume import site_throughput

from .summaries import Series

PALETTE = ("#1f6feb", "#d9480f", "#2f9e44", "#ae3ec9", "#f08c00", "#0c8599", "#c2255c", "#5c940d")


@dataclasses.dataclass
class Line:
    name: str
    colour: str
    points: str  # the SVG polyline "x,y x,y ..." attribute
    last: float


@dataclasses.dataclass
class Chart:
    """What the chart template draws: plot box, lines, axis labels."""

    width: int
    height: int
    left: int
    bottom: int
    lines: list[Line]
    y_max: float
    x_start: datetime | None
    x_end: datetime | None
    ticks: list[tuple[float, str]] = dataclasses.field(default_factory=list)  # (x, label) along the time axis
    y_label: str = ""

    @property
    def empty(self) -> bool:
        return not self.lines

    @property
    def plot_right(self) -> int:
        return self.width - 10

    @property
    def plot_top(self) -> int:
        return 10


# Tick spacings to choose from: the first that gives at most ``MAX_TICKS`` ticks over the span.
TICK_STEPS = [timedelta(seconds=s) for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200,
                                              10800, 21600, 43200, 86400, 172800, 604800)]
MAX_TICKS = 6


def time_ticks(start: datetime, end: datetime, max_ticks: int = MAX_TICKS) -> list[tuple[datetime, str]]:
    """Return ``[(time, label)]``: round times between ``start`` and ``end``, labelled to the precision the span
    needs ("%H:%M:%S" under 10 minutes, "%H:%M" under 2 days, "%m-%d %H:%M" beyond)."""
    span = max(end - start, timedelta(seconds=1))
    step = next((s for s in TICK_STEPS if span / s <= max_ticks), TICK_STEPS[-1])
    fmt = "%H:%M:%S" if span < timedelta(minutes=10) else "%H:%M" if span < timedelta(days=2) else "%m-%d %H:%M"
    start_local = timezone.localtime(start) if timezone.is_aware(start) else start
    epoch = start_local.replace(hour=0, minute=0, second=0, microsecond=0)
    first = epoch + step * math.ceil((start_local - epoch) / step)  # the first multiple of step from start on
    ticks = []
    when = first
    while when <= end and len(ticks) <= max_ticks:
        ticks.append((when, when.strftime(fmt)))
        when += step
    return ticks


def line_chart(series: list[Series], *, width: int = 480, height: int = 180, step: bool = False,
               x_range: tuple[datetime, datetime] | None = None, y_label: str = "") -> Chart:
    """Return a chart of ``series`` on shared axes (time on x, values on y from 0).

    ``step`` draws a staircase (value held until the next point), fit for counts per interval. ``x_range``
    fixes the time axis (e.g. the campaign's start to its end or now); by default it spans the points.
    """
    left, bottom, top, right = 40, height - 20, 10, width - 10
    points = [p for s in series for p in s.points]
    if not points:
        return Chart(width, height, left, bottom, [], 0, None, None)
    x_min = min(t for t, _ in points)
    x_max = max(t for t, _ in points)
    if x_range is not None:
        x_min, x_max = min(x_range[0], x_min), max(x_range[1], x_max)
    span = (x_max - x_min).total_seconds() or 1.0
    y_max = max(v for _, v in points) or 1.0

    def xy(when: datetime, value: float) -> tuple[float, float]:
        x = left + (right - left) * (when - x_min).total_seconds() / span
        return x, bottom - (bottom - top) * value / y_max

    lines = []
    for index, one in enumerate(series):
        coords: list[tuple[float, float]] = []
        previous = None
        for when, value in one.points:
            if step and previous is not None:
                coords.append(xy(when, previous))
            coords.append(xy(when, value))
            previous = value
        if len(coords) == 1:  # a single point: a short flat segment so it shows
            coords.append((coords[0][0] + 4, coords[0][1]))
        lines.append(Line(one.name, PALETTE[index % len(PALETTE)], " ".join(f"{x:.1f},{y:.1f}" for x, y in coords),
                          one.points[-1][1] if one.points else 0))
    ticks = [(xy(when, 0)[0], label) for when, label in time_ticks(x_min, x_max)]
    return Chart(width, height, left, bottom, lines, y_max, x_min, x_max, ticks=ticks, y_label=y_label)


def site_page(site: Any) -> dict[str, Any]:
    """``sites.site``: the chart of bytes into and out of the site per time bucket, and the bucket's name.

    Three queries.
    """
    history = site_throughput(site)
    series = [Series(f"into {site.code}", history.incoming), Series(f"out of {site.code}", history.outgoing)]
    return {"throughput": {"chart": line_chart([s for s in series if s.points], step=True),
                           "bucket": bucket_name(history.width)}}
