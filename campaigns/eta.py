"""When will a campaign finish? Progress and an estimated time of arrival per campaign and per site.

The estimate comes from the durations of the groups already accepted (``finished_at - started_at``):

- per step and site, the remaining groups (not accepted or rejected) each take the mean duration of the
  accepted groups of the same step at that site, else of the same step anywhere, else of the campaign;
- a site works on ``lanes`` groups at once: the groups of the campaign active there now, or, when none is,
  the concurrency it showed so far (busy time of its accepted groups over the wall time they spanned), at
  least one;
- a site's remaining time is the sum over steps of remaining × duration / lanes; the campaign's is that of its
  slowest site (sites work in parallel);
- the confidence range replaces the mean by the first and third quartiles of the same durations.

Two queries for any number of campaigns: one grouped count of groups, one bounded sample of the latest
accepted groups (``SAMPLE_PER_CAMPAIGN`` per campaign at most, in total).
"""

from __future__ import annotations

import dataclasses
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count
from django.utils import timezone

from .choices import Status
from .models import ACTIVE_STATES, Group

SAMPLE_PER_CAMPAIGN = 2000
FINISHED = Group.final_states()


@dataclasses.dataclass
class Estimate:
    """Progress and remaining time of a campaign or of one site of it.

    ``seconds`` is the expected remaining time, ``low``/``high`` its range; all three None when no group has
    finished yet (nothing to estimate from). ``basis`` is how many finished groups the estimate rests on.
    """

    total: int = 0
    done: int = 0
    running: int = 0
    seconds: float | None = None
    low: float | None = None
    high: float | None = None
    basis: int = 0
    now: datetime = dataclasses.field(default_factory=timezone.now)

    @property
    def remaining(self) -> int:
        return self.total - self.done

    @property
    def percent(self) -> float:
        return round(100 * self.done / self.total, 1) if self.total else 0.0

    @property
    def known(self) -> bool:
        return self.seconds is not None

    def _at(self, seconds: float | None) -> datetime | None:
        return None if seconds is None else self.now + timedelta(seconds=seconds)

    @property
    def eta(self) -> datetime | None:
        return self._at(self.seconds)

    @property
    def eta_low(self) -> datetime | None:
        return self._at(self.low)

    @property
    def eta_high(self) -> datetime | None:
        return self._at(self.high)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: counts, percent, remaining seconds with their range, and the ETA with its range (ISO)."""
        def iso(when: datetime | None) -> str | None:
            return when.isoformat() if when else None

        return {"total": self.total, "done": self.done, "running": self.running, "remaining": self.remaining,
                "percent_done": self.percent, "remaining_seconds": self.seconds, "remaining_seconds_low": self.low,
                "remaining_seconds_high": self.high, "eta": iso(self.eta), "eta_low": iso(self.eta_low),
                "eta_high": iso(self.eta_high), "basis": self.basis}


@dataclasses.dataclass
class CampaignEstimate:
    """A campaign's estimate and one per site (site code -> Estimate), sites in code order."""

    overall: Estimate
    sites: dict[str, Estimate]

    def to_dict(self) -> dict[str, Any]:
        return {**self.overall.to_dict(), "sites": {code: est.to_dict() for code, est in self.sites.items()}}


@dataclasses.dataclass
class _Durations:
    values: list[float] = dataclasses.field(default_factory=list)

    def stats(self) -> tuple[float, float, float] | None:
        """(mean, first quartile, third quartile), or None when empty."""
        if not self.values:
            return None
        mean = statistics.fmean(self.values)
        if len(self.values) < 2:
            return mean, mean, mean
        quartiles = statistics.quantiles(self.values, n=4, method="inclusive")
        return mean, quartiles[0], quartiles[2]


def _lanes(busy: float, spans: Sequence[tuple[datetime, datetime]]) -> float:
    """The concurrency a site showed: busy seconds of its finished groups over the wall time they spanned."""
    if not spans:
        return 1.0
    wall = (max(end for _, end in spans) - min(start for start, _ in spans)).total_seconds()
    return max(1.0, busy / wall) if wall > 0 else 1.0


def estimate_campaigns(campaign_ids: Iterable[int], now: datetime | None = None) -> dict[int, CampaignEstimate]:
    """Return ``{campaign id: CampaignEstimate}`` for the given campaigns, in two queries whatever their size."""
    ids = list(campaign_ids)
    now = now or timezone.now()
    if not ids:
        return {}
    counts: dict[int, dict[tuple[int, str], dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for campaign_id, step_id, site, status, n in (
        Group.objects.filter(campaign_id__in=ids).order_by()
        .values_list("campaign_id", "step_id", "site__code", "status").annotate(n=Count("pk"))
    ):
        counts[campaign_id][(step_id, site)][status] = n
    by_step_site: dict[int, dict[tuple[int, str], _Durations]] = defaultdict(lambda: defaultdict(_Durations))
    by_step: dict[int, dict[int, _Durations]] = defaultdict(lambda: defaultdict(_Durations))
    by_campaign: dict[int, _Durations] = defaultdict(_Durations)
    spans: dict[int, dict[str, list[tuple[datetime, datetime]]]] = defaultdict(lambda: defaultdict(list))
    sample = (Group.objects.filter(campaign_id__in=ids, status=Status.ACCEPTED, started_at__isnull=False,
                                   finished_at__isnull=False)
              .order_by("-finished_at").values_list("campaign_id", "step_id", "site__code", "started_at",
                                                    "finished_at")[:SAMPLE_PER_CAMPAIGN * len(ids)])
    for campaign_id, step_id, site, started, finished in sample:
        seconds = max((finished - started).total_seconds(), 0.0)
        by_step_site[campaign_id][(step_id, site)].values.append(seconds)
        by_step[campaign_id][step_id].values.append(seconds)
        by_campaign[campaign_id].values.append(seconds)
        spans[campaign_id][site].append((started, finished))
    return {campaign_id: _estimate(counts[campaign_id], by_step_site[campaign_id], by_step[campaign_id],
                                   by_campaign[campaign_id], spans[campaign_id], now)
            for campaign_id in ids}


def _estimate(counts, by_step_site, by_step, overall, spans, now: datetime) -> CampaignEstimate:
    sites: dict[str, Estimate] = {}
    campaign_stats = overall.stats()
    for (step_id, site), statuses in sorted(counts.items(), key=lambda item: item[0][1]):
        estimate = sites.setdefault(site, Estimate(now=now, seconds=0.0, low=0.0, high=0.0))
        total = sum(statuses.values())
        done = sum(statuses.get(status, 0) for status in FINISHED)
        estimate.total += total
        estimate.done += done
        estimate.running += sum(statuses.get(status, 0) for status in ACTIVE_STATES)
        remaining = total - done
        if not remaining:
            continue
        stats = by_step_site[(step_id, site)].stats() or by_step[step_id].stats() or campaign_stats
        if stats is None or estimate.seconds is None:
            estimate.seconds = estimate.low = estimate.high = None
            continue
        mean, q1, q3 = stats
        estimate.seconds += remaining * mean
        estimate.low += remaining * q1
        estimate.high += remaining * q3
    for site, estimate in sites.items():
        site_spans = spans.get(site, [])
        estimate.basis = len(site_spans)
        if estimate.seconds is None:
            continue
        lanes = estimate.running or _lanes(sum((end - start).total_seconds() for start, end in site_spans),
                                           site_spans)
        estimate.seconds /= lanes
        estimate.low /= lanes
        estimate.high /= lanes
    total = Estimate(now=now, total=sum(e.total for e in sites.values()), done=sum(e.done for e in sites.values()),
                     running=sum(e.running for e in sites.values()), basis=len(overall.values))
    if not sites or all(e.seconds is not None for e in sites.values()):
        total.seconds = max((e.seconds for e in sites.values()), default=0.0)
        total.low = max((e.low for e in sites.values()), default=0.0)
        total.high = max((e.high for e in sites.values()), default=0.0)
    return CampaignEstimate(overall=total, sites=dict(sorted(sites.items())))
