"""Line charts as inline SVG geometry, computed server-side (no JavaScript charting library)."""

from __future__ import annotations

import dataclasses
from datetime import datetime

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

    @property
    def empty(self) -> bool:
        return not self.lines

    @property
    def plot_right(self) -> int:
        return self.width - 10

    @property
    def plot_top(self) -> int:
        return 10


def line_chart(series: list[Series], *, width: int = 480, height: int = 180, step: bool = False) -> Chart:
    """Return a chart of ``series`` on shared axes (time on x, values on y from 0).

    ``step`` draws a staircase (value held until the next point), fit for counts per interval.
    """
    left, bottom, top, right = 40, height - 20, 10, width - 10
    points = [p for s in series for p in s.points]
    if not points:
        return Chart(width, height, left, bottom, [], 0, None, None)
    x_min = min(t for t, _ in points)
    x_max = max(t for t, _ in points)
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
    return Chart(width, height, left, bottom, lines, y_max, x_min, x_max)
