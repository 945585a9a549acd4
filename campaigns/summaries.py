"""Aggregate queries behind the UI pages: each returns plain data in a fixed number of queries.

Nothing here grows its query count with the number of groups, jobs or
movements: counts come from one grouped ``values(...).annotate(...)`` query
and related rows from ``select_related``/``prefetch_related``.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from core.models import Event
from core.timing import bucket_for
from sites.choices import SiteStatus
from sites.models import Site
from transfers.choices import MovementStatus
from transfers.models import Movement

from .choices import Status
from .models import ACTIVE_STATES, ATTENTION_STATES, Campaign, Group, Job, StallThreshold, Step
from .services import PENDING_FOR_REASSIGN

# A group or movement that sits in one of these states longer than this is "stalled". Staff change them in the
# admin (StallThreshold rows, seeded with these); a state without a row falls back to these defaults.
STALL_DEFAULTS: dict[str, dict[str, timedelta]] = {
    "group": {
        Status.READY: timedelta(hours=2),
        Status.PREPARED: timedelta(minutes=30),
        Status.RUNNING: timedelta(hours=24),
        Status.BLOCKED: timedelta(hours=1),
        Status.RESCUABLE: timedelta(hours=2),
    },
    "movement": {
        MovementStatus.READY: timedelta(hours=1),
        MovementStatus.REGISTERING: timedelta(hours=1),
        MovementStatus.TRANSFERRING: timedelta(hours=12),
        MovementStatus.INGESTING: timedelta(hours=2),
    },
}


def stall_thresholds() -> dict[str, dict[str, timedelta]]:
    """Return the stall thresholds in force: the defaults overlaid with staff's StallThreshold rows. One query."""
    thresholds = {kind: dict(states) for kind, states in STALL_DEFAULTS.items()}
    for kind, status, after in StallThreshold.objects.values_list("kind", "status", "after"):
        thresholds.setdefault(kind, {})[status] = after
    return thresholds


def human_duration(delta: timedelta) -> str:
    """Return a duration for people: "45 s", "30 min", "2 h", "1 d 6 h"."""
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min" + (f" {seconds % 60} s" if seconds % 60 else "")
    if seconds < 86400:
        return f"{seconds // 3600} h" + (f" {seconds % 3600 // 60} min" if seconds % 3600 // 60 else "")
    return f"{seconds // 86400} d" + (f" {seconds % 86400 // 3600} h" if seconds % 86400 // 3600 else "")


# States shown on the home page whatever their age: they wait for an operator.
GROUP_FAILED = Group.sources_of("rescue")  # failed or reviewable: what a rescue reruns
MOVEMENT_FAILED = Movement.sources_of("retry")  # failed or stuck: what a retry restarts

# A matrix cell takes the colour of the first of these states present, else of its most numerous state.
# The worst first: what waits for an operator (failed before the rest), then work in flight, furthest along first.
SEVERITY = (*sorted(ATTENTION_STATES, key=lambda s: (s != Group.target_of("fail"), Status.values.index(s))),
            *sorted(ACTIVE_STATES - ATTENTION_STATES, key=Status.values.index, reverse=True))

# Groups waiting to run at their site: not ready yet, or ready.
PENDING_GROUP = Group.sources_of("make_ready") | {Group.target_of("make_ready")}
# Campaigns still under way: those a reject may still give up, but not the failed ones.
ACTIVE_CAMPAIGN = Campaign.sources_of("reject") - {Campaign.target_of("fail")}
ATTENTION_LIMIT = 50


def _stall_q(kind: str, now: datetime, thresholds: dict[str, dict[str, timedelta]]) -> Q:
    query = Q(pk__in=[])
    for status, threshold in thresholds[kind].items():
        query |= Q(status=status, status_changed_at__lt=now - threshold)
    return query


def campaigns_with_progress(campaigns: QuerySet[Campaign]) -> list[Campaign]:
    """Return the campaigns, each with ``groups_total``, ``groups_done``, ``groups_failed`` and ``percent``.

    One query: the counts are annotations.
    """
    rows = list(
        campaigns.select_related("hub").annotate(
            groups_total=Count("groups"),
            groups_done=Count("groups", filter=Q(groups__status=Status.ACCEPTED)),
            groups_failed=Count("groups", filter=Q(groups__status__in=GROUP_FAILED)),
        )
    )
    for campaign in rows:
        campaign.percent = round(100 * campaign.groups_done / campaign.groups_total) if campaign.groups_total else 0
    return rows


def active_campaigns() -> list[Campaign]:
    """Return the campaigns not finished yet, newest first, with their progress."""
    return campaigns_with_progress(Campaign.objects.filter(status__in=ACTIVE_CAMPAIGN).order_by("-created"))


RECENTLY_FINISHED = 10


def recently_finished_campaigns(limit: int = RECENTLY_FINISHED) -> list[Campaign]:
    """Return the ``limit`` campaigns finished last (accepted, failed or rejected), latest first (one query)."""
    finished = Campaign.final_states() | {Campaign.target_of("fail")}
    return list(Campaign.objects.filter(status__in=finished, finished_at__isnull=False)
                .select_related("hub").order_by("-finished_at")[:limit])


def sites_with_load() -> list[Site]:
    """Return every site with ``running`` (groups in flight there) and ``pending`` (waiting/ready) counts."""
    return list(
        Site.objects.annotate(
            running=Count("groups", filter=Q(groups__status__in=ACTIVE_STATES)),
            pending=Count("groups", filter=Q(groups__status__in=PENDING_GROUP)),
        )
    )


@dataclasses.dataclass
class Attention:
    """One stalled or failed object for the home page."""

    kind: str
    obj: Any
    reason: str
    since: datetime
    threshold: timedelta | None = None  # what made it "stalled"


def needs_attention(limit: int = ATTENTION_LIMIT, now: datetime | None = None,
                    thresholds: dict[str, dict[str, timedelta]] | None = None) -> list[Attention]:
    """Return stalled (same state past its threshold) or failed groups and movements, newest first.

    Three queries (groups, movements, steps left without groups), each limited to ``limit``, and one for the
    thresholds unless given.
    """
    now = now or timezone.now()
    thresholds = thresholds or stall_thresholds()
    groups = (
        Group.objects.filter(Q(status__in=GROUP_FAILED) | _stall_q("group", now, thresholds))
        .exclude(campaign__status__in=Campaign.final_states())
        .select_related("step", "site", "campaign", "error_rule")
        .order_by("-status_changed_at")[:limit]
    )
    movements = (
        Movement.objects.filter(Q(status__in=MOVEMENT_FAILED) | _stall_q("movement", now, thresholds))
        .exclude(campaign__status__in=Campaign.final_states())
        .select_related("destination", "campaign")
        .order_by("-status_changed_at")[:limit]
    )
    # A step without groups waits for an operator (orchestration.NO_GROUPS); its groups cannot show it.
    steps = (
        Step.objects.filter(status=Status.REVIEWABLE, groups__isnull=True)
        .exclude(campaign__status__in=Campaign.final_states())
        .select_related("campaign")
        .order_by("-status_changed_at")[:limit]
    )
    items = [
        Attention("group", group, "failed" if group.status in GROUP_FAILED else "stalled", group.status_changed_at,
                  None if group.status in GROUP_FAILED else thresholds["group"].get(group.status))
        for group in groups
    ] + [Attention("step", step, "stuck: no group, it matches no data", step.status_changed_at) for step in steps] + [
        Attention("movement", movement, "failed" if movement.status in MOVEMENT_FAILED else "stalled",
                  movement.status_changed_at,
                  None if movement.status in MOVEMENT_FAILED else thresholds["movement"].get(movement.status))
        for movement in movements
    ]
    items.sort(key=lambda item: item.since, reverse=True)
    return items[:limit]


@dataclasses.dataclass
class Cell:
    """Groups of one step at one site: ``done`` of ``total``, coloured by ``state``."""

    site: str = ""
    done: int = 0
    total: int = 0
    state: str = ""
    counts: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def colour(self) -> str:
        return Status.colour(self.state) if self.state else "empty"


@dataclasses.dataclass
class Matrix:
    """The stage/step x site matrix of a campaign.

    ``site_status`` maps each site code to its status; ``stranded`` lists ``(code, pending groups)`` of the
    sites that are not online yet hold groups an operator may reassign (``services.PENDING_FOR_REASSIGN``).
    """

    sites: list[str]
    rows: list[tuple[Step, list[Cell], Cell]]
    site_status: dict[str, str] = dataclasses.field(default_factory=dict)
    stranded: list[tuple[str, int]] = dataclasses.field(default_factory=list)


def _dominant(counts: dict[str, int]) -> str:
    for status in SEVERITY:
        if counts.get(status):
            return status
    return max(counts, key=counts.get) if counts else ""


def step_site_matrix(campaign: Campaign) -> Matrix:
    """Return the matrix of a campaign. Two queries: its steps, and one grouped count of its groups."""
    steps = list(campaign.steps.select_related("stage").order_by("stage__order", "order"))
    counts: dict[tuple[int, str], dict[str, int]] = defaultdict(dict)
    site_codes: list[str] = []
    site_status: dict[str, str] = {}
    pending: dict[str, int] = defaultdict(int)
    grouped = (
        Group.objects.filter(campaign=campaign)
        .values("step_id", "site__code", "site__status", "status")
        .annotate(n=Count("id"))
        .order_by("site__code")
    )
    for row in grouped:
        counts[(row["step_id"], row["site__code"])][row["status"]] = row["n"]
        if row["site__code"] not in site_codes:
            site_codes.append(row["site__code"])
        site_status[row["site__code"]] = row["site__status"]
        if row["status"] in PENDING_FOR_REASSIGN:
            pending[row["site__code"]] += row["n"]
    hub = campaign.hub.code
    site_codes.sort(key=lambda code: (code != hub, code))
    rows = []
    for step in steps:
        cells = []
        step_counts: dict[str, int] = defaultdict(int)
        for code in site_codes:
            cell_counts = counts.get((step.pk, code), {})
            for status, n in cell_counts.items():
                step_counts[status] += n
            cells.append(_cell(cell_counts, code))
        rows.append((step, cells, _cell(dict(step_counts))))
    stranded = [(code, pending[code]) for code in site_codes
                if site_status.get(code) != SiteStatus.ONLINE and pending[code]]
    return Matrix(sites=site_codes, rows=rows, site_status=site_status, stranded=stranded)


def _cell(counts: dict[str, int], site: str = "") -> Cell:
    return Cell(site=site, done=counts.get(Status.ACCEPTED, 0), total=sum(counts.values()), state=_dominant(counts),
                counts=counts)


def steps_with_movements(campaign: Campaign) -> list[Step]:
    """Return the campaign's steps in order, each with ``gating_movements`` prefetched (sources, destination)."""
    movements = Movement.objects.select_related("destination", "before_step").prefetch_related("sources").order_by("id")
    return list(
        campaign.steps.select_related("stage")
        .prefetch_related(Prefetch("gating_movements", queryset=movements))
        .order_by("stage__order", "order")
    )


def campaign_events(campaign: Campaign, limit: int = 50) -> list[Event]:
    """Return the latest ``limit`` events of a campaign, newest first."""
    return list(Event.objects.filter(campaign=campaign).select_related("actor", "content_type")[:limit])


@dataclasses.dataclass
class Series:
    """A named line: (time, value) points in time order."""

    name: str
    points: list[tuple[datetime, float]]


def campaign_span(campaign: Campaign, now: datetime | None = None) -> tuple[datetime, datetime]:
    """Return the time a campaign's charts cover: its start (or creation) to its end (or now)."""
    start = campaign.started_at or campaign.created
    return start, max(campaign.finished_at or now or timezone.now(), start)


def job_throughput(campaign: Campaign) -> tuple[Series, list[Series], timedelta]:
    """Return (groups done over time, cumulative; accepted jobs per bucket per site; the bucket width).

    The bucket fits the campaign's span (seconds for a campaign of minutes, hours for one of days; see
    ``timing.bucket_for``). One query: accepted jobs' ``finished_at`` grouped by bucket and site.
    """
    start, end = campaign_span(campaign)
    trunc, width = bucket_for(end - start)
    rows = (
        Job.objects.filter(group__campaign=campaign, status=Status.ACCEPTED, finished_at__isnull=False)
        .annotate(hour=trunc("finished_at"))
        .values("hour", "group__site__code")
        .annotate(n=Count("id"))
        .order_by("hour")
    )
    per_site: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
    per_hour: dict[datetime, int] = defaultdict(int)
    for row in rows:
        per_site[row["group__site__code"]].append((row["hour"], row["n"]))
        per_hour[row["hour"]] += row["n"]
    total, cumulative = 0, []
    for hour in sorted(per_hour):
        total += per_hour[hour]
        cumulative.append((hour + width, total))
    if cumulative:
        cumulative.insert(0, (min(min(per_hour), start), 0))
    return (Series("groups done", cumulative), [Series(code, points) for code, points in sorted(per_site.items())],
            width)


def step_site_counts(step: Step) -> list[dict[str, Any]]:
    """Return per site of a step: ``site__code``, ``total``, ``done``, ``failed``, ``running`` (one query)."""
    return list(
        Group.objects.filter(step=step)
        .values("site__code")
        .annotate(
            total=Count("id"),
            done=Count("id", filter=Q(status=Status.ACCEPTED)),
            running=Count("id", filter=Q(status__in=ACTIVE_STATES)),
            failed=Count("id", filter=Q(status__in=GROUP_FAILED)),
        )
        .order_by("site__code")
    )


def error_summary() -> tuple[list[dict[str, Any]], list[str]]:
    """Return (rows, site codes): failed/reviewable groups counted by ErrorRule (None: unmatched) x site.

    Each row: ``rule_id``, ``rule_name``, ``cells`` (count per site code, in the order of the codes), ``total``.
    One query.
    """
    grouped = (
        Group.objects.filter(status__in=GROUP_FAILED)
        .values("error_rule_id", "error_rule__name", "site__code")
        .annotate(n=Count("id"))
        .order_by("error_rule__name", "site__code")
    )
    sites: list[str] = []
    table: dict[int | None, dict[str, Any]] = {}
    for row in grouped:
        if row["site__code"] not in sites:
            sites.append(row["site__code"])
        entry = table.setdefault(row["error_rule_id"], {"rule_id": row["error_rule_id"],
                                                        "rule_name": row["error_rule__name"] or "unmatched",
                                                        "by_site": {}, "total": 0})
        entry["by_site"][row["site__code"]] = row["n"]
        entry["total"] += row["n"]
    sites.sort()
    rows = sorted(table.values(), key=lambda entry: -entry["total"])
    for entry in rows:
        entry["cells"] = [(code, entry["by_site"].get(code, 0)) for code in sites]
    return rows, sites


# ------------------------------------------------------------------------- contributed to the sites app's pages


def site_list_annotations() -> dict[str, Any]:
    """``sites.site_list``: per site, the groups running there and those waiting to run (ready or not yet)."""
    return {"running": Count("groups", filter=Q(groups__status__in=ACTIVE_STATES)),
            "pending": Count("groups", filter=Q(groups__status__in=PENDING_GROUP))}


def site_page(site: Site) -> dict[str, Any]:
    """``sites.site``: the groups running at the site (the latest 100) and how many there are."""
    running = (Group.objects.filter(site=site, status__in=ACTIVE_STATES)
               .select_related("campaign", "step", "site", "error_rule").order_by("-status_changed_at"))
    return {"running": running[:100], "running_count": running.count()}


def rinse_page() -> dict[str, Any]:
    """``sites.rinse``: how many campaigns a rinse of the embedded sites would disturb."""
    return {"active_campaigns": Campaign.objects.filter(status__in=ACTIVE_CAMPAIGN).count()}
