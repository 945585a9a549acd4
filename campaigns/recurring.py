"""Recurring campaigns: a template run on a schedule (weekly DC/RC validation), each run its own campaign.

Celery beat calls ``campaigns.tasks.run_recurring`` per schedule (a django-celery-beat PeriodicTask, made on
the Recurring page); each run is named ``{template}-{site}-{yymmddHHMM}`` and gets its own output prefix.
Every run leaves an Event on its template, started (naming the campaign) or failed (naming the spec's
errors), which the Recurring page shows (`last_recurring_runs`), so a weekly run never fails unseen.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from datetime import datetime

import yaml
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from core.lifecycle import record_event
from core.models import Event
from planning.spec import SpecError

from .models import Campaign, CampaignTemplate
from .services import create_campaign_from_spec, lock_campaign_names


def start_recurring(template_id: int, site: str | None = None) -> Campaign | None:
    """Create and start a campaign from a template, named by template and date (weekly validation runs).

    ``site`` (optional) runs it at one site only, as the hub. Every run has
    its own name, ``{template}-{site}-{yymmddHHMM}`` (``-2``, ``-3``... for
    another run in the same minute), and so its own output prefix; a
    template that fixes ``output_prefix`` gets the run's name appended to
    it. Returns the campaign, or None if the template is gone. Raises
    SpecError when the template no longer plans.
    """
    template = CampaignTemplate.objects.filter(pk=template_id).first()
    if template is None:
        return None
    try:
        with transaction.atomic():
            lock_campaign_names()  # two runs at once must not both pick the same free name
            campaign = _create_recurring(template, site)
            campaign.start(comment="recurring schedule")
    except SpecError as exc:
        # the schedule page shows it (last_recurring_runs): a weekly run must not fail unseen in a worker log
        problems = "; ".join(str(error) for error in exc.errors[:10])
        record_event(template, RECURRING_FAILED, "", "", comment=f"{_run_tag(site)}{problems}"[:4000])
        raise
    record_event(template, RECURRING_STARTED, "", "", comment=f"{_run_tag(site)}{campaign.name}")
    return campaign


RECURRING_STARTED, RECURRING_FAILED = "recurring_run", "recurring_run_failed"


def _run_tag(site: str | None) -> str:
    return f"[{site or '*'}] "


@dataclasses.dataclass(frozen=True)
class RecurringRun:
    """How the latest run of a recurring schedule went: ``failed``, and the campaign or the spec errors."""

    failed: bool
    message: str
    at: datetime


def last_recurring_runs(schedules: Iterable[tuple[int, str | None]]) -> dict[tuple[int, str | None], RecurringRun]:
    """Return the latest run (started or failed) of each ``(template id, site)`` schedule that ran. One query."""
    wanted = set(schedules)
    latest: dict[tuple[int, str | None], RecurringRun] = {}
    if not wanted:
        return latest
    events = Event.objects.filter(
        content_type=ContentType.objects.get_for_model(CampaignTemplate),
        verb__in=(RECURRING_STARTED, RECURRING_FAILED), object_id__in={template_id for template_id, _ in wanted},
    ).order_by("-created", "-pk")
    for event in events:
        for key in wanted - latest.keys():
            tag = _run_tag(key[1])
            if key[0] == event.object_id and event.comment.startswith(tag):
                latest[key] = RecurringRun(event.verb == RECURRING_FAILED, event.comment.removeprefix(tag),
                                           event.created)
        if len(latest) == len(wanted):
            break
    return latest


def recurring_spec(template: CampaignTemplate, site: str | None, name: str) -> str:
    """Return the spec of the run ``name`` of ``template`` (at ``site`` only, as the hub, when given).

    A template that fixes ``output_prefix`` gets the run's part of ``name`` appended (``/{site}-{yymmddHHMM}``,
    as in :func:`recurring_name`): every run writes its own collections, and they stay within Butler's 64
    characters where the template's own ones would.
    """
    document = yaml.safe_load(template.spec) or {}
    if not (site or (isinstance(document, dict) and document.get("output_prefix"))):
        return template.spec
    if site:
        document.update(hub=site, sites=[site])
        document.pop("tract_map", None)
    if document.get("output_prefix"):
        stem = f"{_recurring_stem(template)}-"
        document["output_prefix"] = f"{document['output_prefix']}/{name.removeprefix(stem)}"
    return yaml.safe_dump(document, sort_keys=False)


def recurring_name(template: CampaignTemplate, site: str | None) -> str:
    """Return a free name for a run of ``template`` now: ``{template}-{site}-{yymmddHHMM}``, then ``-2``, ``-3``..."""
    base = f"{_recurring_stem(template)}-{site or 'all'}-{timezone.now():%y%m%d%H%M}"
    taken = set(Campaign.objects.filter(name__startswith=base).values_list("name", flat=True))
    return next(candidate for candidate in (base, *(f"{base}-{n}" for n in range(2, len(taken) + 3)))
                if candidate not in taken)


def _recurring_stem(template: CampaignTemplate) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", template.name).strip("-._")[:40] or f"template{template.pk}"


def _create_recurring(template: CampaignTemplate, site: str | None) -> Campaign:
    name = recurring_name(template, site)
    return create_campaign_from_spec(name, recurring_spec(template, site, name), template=template)
