"""Campaign progress: one campaign's counts by status, per step and per site, in a fixed number of queries.

``campaign_summary`` is what the API's summary endpoint and any page showing
a campaign's progress need. It only aggregates (``GROUP BY`` in the
database): no row per group or job is loaded into Python, so the number of
queries is the same for ten groups or a hundred thousand, and the time
grows only with the index scans PostgreSQL does (see docs/benchmarks.md).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db.models import Count, Sum

from sites.models import Site
from transfers.models import Movement

from .choices import Status
from .models import ACTIVE_STATES, ATTENTION_STATES, Campaign, Group, Step

#: The number of queries ``campaign_summary`` runs, whatever the campaign's size (pinned by tests).
SUMMARY_QUERIES = 5


def _counts(by_status: dict[str, int]) -> dict[str, Any]:
    total = sum(by_status.values())
    return {
        "total": total,
        "by_status": dict(sorted(by_status.items())),
        "accepted": by_status.get(Status.ACCEPTED, 0),
        "active": sum(by_status.get(status, 0) for status in ACTIVE_STATES),
        "attention": sum(by_status.get(status, 0) for status in ATTENTION_STATES),
        "percent_accepted": round(100 * by_status.get(Status.ACCEPTED, 0) / total, 1) if total else 0.0,
    }


def campaign_summary(campaign_id: int) -> dict[str, Any]:
    """Return the progress of one campaign as JSON-able data, in ``SUMMARY_QUERIES`` queries.

    ``{"campaign": {id, name, status, hub, started_at, finished_at, status_changed_at},
    "groups": counts + {attempts}, "steps": [{id, name, order, status, groups: counts}],
    "sites": [{code, groups: counts}], "movements": {total, by_status}}`` where ``counts`` is
    ``{total, by_status, accepted, active, attention, percent_accepted}`` and ``attempts`` the
    submissions made so far. One ``GROUP BY`` over the campaign's groups (no join: PostgreSQL
    reads only the group rows, or only an index with a covering one) gives every count.
    Per-job quanta are not here: summing them reads every job of the campaign.

    Raises Campaign.DoesNotExist if there is no such campaign.
    """
    campaign = (Campaign.objects.filter(pk=campaign_id)
                .values("id", "name", "status", "hub__code", "started_at", "finished_at", "status_changed_at")
                .get())
    campaign["hub"] = campaign.pop("hub__code")

    by_step: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_site: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    overall: dict[str, int] = defaultdict(int)
    attempts = 0
    for step_id, site_id, status, n, tries in (
        Group.objects.filter(campaign_id=campaign_id).order_by()
        .values_list("step_id", "site_id", "status").annotate(n=Count("pk"), tries=Sum("attempts"))
    ):
        by_step[step_id][status] += n
        by_site[site_id][status] += n
        overall[status] += n
        attempts += tries or 0

    steps = [
        {"id": pk, "name": name, "order": order, "status": status, "groups": _counts(by_step.get(pk, {}))}
        for pk, name, order, status in Step.objects.filter(campaign_id=campaign_id).order_by("order")
        .values_list("pk", "name", "order", "status")
    ]
    codes = dict(Site.objects.filter(pk__in=list(by_site)).values_list("pk", "code"))
    movements = dict(Movement.objects.filter(campaign_id=campaign_id).order_by().values_list("status")
                     .annotate(n=Count("pk")))
    return {
        "campaign": campaign,
        "groups": {**_counts(overall), "attempts": attempts},
        "steps": steps,
        "sites": sorted(({"code": codes.get(pk, str(pk)), "groups": _counts(counts)}
                         for pk, counts in by_site.items()), key=lambda site: site["code"]),
        "movements": {"total": sum(movements.values()), "by_status": dict(sorted(movements.items()))},
    }
