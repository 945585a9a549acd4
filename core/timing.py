"""Durations of campaigns, steps, groups, jobs and movements: how to compute, sort and show them.

An object's duration runs from its ``started_at`` to its ``finished_at``, or to now while it is not finished;
its time in the current state from its ``status_changed_at`` to now. Sorting by duration is one SQL expression
(``COALESCE(finished_at, now()) - started_at``), so a sorted page costs the same queries as an unsorted one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import django_filters as filters
from django.db.models import DurationField, ExpressionWrapper, F, QuerySet
from django.db.models.functions import Coalesce, Now, TruncDay, TruncHour, TruncMinute, TruncSecond

#: The ``sort`` choices of the group, movement and campaign lists (UI and API).
SORT_CHOICES = (
    ("-duration", "Slowest first (duration)"),
    ("duration", "Fastest first (duration)"),
    ("-in_state", "Longest in its state first"),
    ("-started", "Latest started first"),
    ("started", "Earliest started first"),
)


def duration_expression(start: str = "started_at", end: str = "finished_at") -> ExpressionWrapper:
    """Return ``COALESCE(end, now()) - start`` as a duration (NULL when it has not started)."""
    return ExpressionWrapper(Coalesce(F(end), Now()) - F(start), output_field=DurationField())


def sort_by_time(queryset: QuerySet, value: str, start: str = "started_at") -> QuerySet:
    """Return ``queryset`` ordered by ``value`` (one of ``SORT_CHOICES``); rows without a start go last."""
    if not value:
        return queryset
    descending = value.startswith("-")
    key = value.lstrip("-")
    if key == "duration":
        queryset = queryset.annotate(duration=duration_expression(start))
        field = F("duration")
    elif key == "in_state":
        # the longest in its state is the one whose state changed first
        return queryset.order_by(F("status_changed_at").asc(), "-pk")
    else:
        field = F(start)
    order = field.desc(nulls_last=True) if descending else field.asc(nulls_last=True)
    return queryset.order_by(order, "-pk")


class TimeSortFilter(filters.ChoiceFilter):
    """``sort=-duration`` etc.: order a list by duration, time in state or start (see ``SORT_CHOICES``)."""

    def __init__(self, *args, start: str = "started_at", **kwargs) -> None:
        self.start = start
        kwargs.setdefault("choices", SORT_CHOICES)
        kwargs.setdefault("label", "Sort")
        kwargs.setdefault("empty_label", "Latest change first")
        super().__init__(*args, **kwargs)

    def filter(self, queryset: QuerySet, value: str) -> QuerySet:
        return sort_by_time(queryset, value, self.start)


def format_seconds(seconds: float) -> str:
    """Return a duration to the second for people: "45s", "2m 05s", "1h 02m 03s", "3d 4h 05m 06s"."""
    seconds = max(0, int(round(seconds)))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h {minutes:02d}m {secs:02d}s"
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def span(start: datetime | None, end: datetime | None, now: datetime | None = None) -> timedelta | None:
    """Return ``end - start`` (``now - start`` while not finished); None when it has not started."""
    if start is None:
        return None
    from django.utils import timezone

    return (end or now or timezone.now()) - start


# Bucket sizes for a time axis, from the span it must cover: (the longest span, the truncation, the width).
BUCKETS = (
    (timedelta(minutes=3), TruncSecond, timedelta(seconds=1)),
    (timedelta(hours=3), TruncMinute, timedelta(minutes=1)),
    (timedelta(days=7), TruncHour, timedelta(hours=1)),
    (timedelta.max, TruncDay, timedelta(days=1)),
)


def bucket_for(length: timedelta):
    """Return ``(Trunc function, bucket width)`` cutting a span of ``length`` into at most ~200 buckets."""
    for longest, trunc, width in BUCKETS:
        if length <= longest:
            return trunc, width
    return BUCKETS[-1][1], BUCKETS[-1][2]


def bucket_name(width: timedelta) -> str:
    """"second", "minute", "hour" or "day": what one bucket of ``width`` is called."""
    return {1: "second", 60: "minute", 3600: "hour"}.get(int(width.total_seconds()), "day")
