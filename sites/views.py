"""UI pages of sites: the list (SiteFilterSet) and one site's repository, queues, work and history."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q
from django.shortcuts import get_object_or_404
from django.views.generic import TemplateView

from campaigns import summaries
from campaigns.choices import Status
from campaigns.models import Group
from campaigns.views.base import FilteredListView, verbs_for
from msproc.htmx import ViewerRequiredMixin
from transfers.choices import MovementStatus
from transfers.models import Movement

from .filtersets import SiteFilterSet
from .models import Site


class SiteListView(FilteredListView):
    template_name = "sites/site_list.html"
    filterset_class = SiteFilterSet
    queryset = Site.objects.annotate(
        running=Count("groups", filter=Q(groups__status__in=Status.active())),
        pending=Count("groups", filter=Q(groups__status__in=(Status.WAITING, Status.READY))),
    ).order_by("-is_hub", "code")


class SiteDetailView(ViewerRequiredMixin, TemplateView):
    """Butler repository state and contents, PanDA queues, running groups, incoming movements, history."""

    template_name = "sites/site_detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        site = get_object_or_404(Site.objects.prefetch_related("butler_repos", "queues"), code=kwargs["code"])
        running = (
            Group.objects.filter(site=site, status__in=Status.active())
            .select_related("campaign", "step", "site", "error_rule")
            .order_by("-status_changed_at")
        )
        incoming = (
            Movement.objects.filter(destination=site)
            .exclude(status__in=MovementStatus.terminal())
            .select_related("campaign", "destination", "before_step")
            .prefetch_related("sources")
            .order_by("campaign", "id")
        )
        return super().get_context_data(
            site=site,
            site_verbs=verbs_for(site),
            contents=summaries.replica_contents(site),
            running=running[:100],
            running_count=running.count(),
            incoming=incoming[:100],
            history=summaries.object_events(site, limit=50),
            **kwargs,
        )
