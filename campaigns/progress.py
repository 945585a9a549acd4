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

from transfers.models import Movement

from .choices import Status
from .models import Campaign, Group, Job, Step

#: The number of queries ``campaign_summary`` runs, whatever the campaign's size (pinned by tests).
SUMMARY_QUERIES = 5


def _counts(by_status: dict[str, int]) -> dict[str, Any]:
    total = sum(by_status.values())
    return {
        "total": total,
        "by_status": dict(sorted(by_status.items())),
        "accepted": by_status.get(Status.ACCEPTED, 0),
        "active": sum(by_status.get(status, 0) for status in Status.active()),
        "attention": sum(by_status.get(status, 0) for status in Status.needs_attention()),
        "percent_accepted": round(100 * by_status.get(Status.ACCEPTED, 0) / total, 1) if total else 0.0,
    }


def campaign_summary(campaign_id: int) -> dict[str, Any]:
    """Return the progress of one campaign as JSON-able data, in ``SUMMARY_QUERIES`` queries.

    ``{"campaign": {id, name, status, hub, started_at, finished_at, status_changed_at},
    "groups": counts, "steps": [{id, name, order, status, groups: counts}],
    "sites": [{code, groups: counts}], "jobs": {total, by_status, quanta_expected,
    quanta_succeeded, quanta_failed}, "movements": {total, by_status}}`` where
    ``counts`` is ``{total, by_status, accepted, active, attention, percent_accepted}``
    (``groups`` also carries ``attempts``, the submissions made so far).

    Raises Campaign.DoesNotExist if there is no such campaign.
    """
    campaign = (Campaign.objects.filter(pk=campaign_id)
                .values("id", "name", "status", "hub__code", "started_at", "finished_at", "status_changed_at")
                .get())
    campaign["hub"] = campaign.pop("hub__code")

    by_step: dict[int, dict[str, int]] = defaultdict(dict)
    by_site: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    overall: dict[str, int] = defaultdict(int)
    attempts = 0
    for step_id, site, status, n, tries in (
        Group.objects.filter(campaign_id=campaign_id).order_by()
        .values_list("step_id", "site__code", "status").annotate(n=Count("pk"), tries=Sum("attempts"))
    ):
        by_step[step_id][status] = by_step[step_id].get(status, 0) + n
        by_site[site][status] += n
        overall[status] += n
        attempts += tries or 0

    steps = [
        {"id": pk, "name": name, "order": order, "status": status, "groups": _counts(by_step.get(pk, {}))}
        for pk, name, order, status in Step.objects.filter(campaign_id=campaign_id).order_by("order")
        .values_list("pk", "name", "order", "status")
    ]

    jobs: dict[str, Any] = {"total": 0, "by_status": {}, "quanta_expected": 0, "quanta_succeeded": 0,
                            "quanta_failed": 0}
    for status, n, expected, succeeded, failed in (
        Job.objects.filter(group__campaign_id=campaign_id).order_by().values_list("status")
        .annotate(n=Count("pk"), expected=Sum("quanta_expected"), succeeded=Sum("quanta_succeeded"),
                  failed=Sum("quanta_failed"))
    ):
        jobs["by_status"][status] = n
        jobs["total"] += n
        jobs["quanta_expected"] += expected or 0
        jobs["quanta_succeeded"] += succeeded or 0
        jobs["quanta_failed"] += failed or 0
    jobs["by_status"] = dict(sorted(jobs["by_status"].items()))

    movements = dict(Movement.objects.filter(campaign_id=campaign_id).order_by().values_list("status")
                     .annotate(n=Count("pk")))
    return {
        "campaign": campaign,
        "groups": {**_counts(overall), "attempts": attempts},
        "steps": steps,
        "sites": [{"code": code, "groups": _counts(counts)} for code, counts in sorted(by_site.items())],
        "jobs": jobs,
        "movements": {"total": sum(movements.values()), "by_status": dict(sorted(movements.items()))},
    }
