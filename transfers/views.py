"""UI pages of movements: the list (MovementFilterSet), one movement, and everything over one site pair."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Max, Sum
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.views.generic import TemplateView

from core.htmx import ViewerRequiredMixin
from core.models import object_events
from core.views import FilteredListView, verbs_for
from sites.models import Site

from .filtersets import MovementFilterSet
from .models import Movement, Replica

MOVEMENT_LIST = Movement.objects.select_related("campaign", "destination", "before_step").prefetch_related(
    "sources", "dataset_types"
)


class MovementListView(FilteredListView):
    template_name = "transfers/movement_list.html"
    filterset_class = MovementFilterSet
    queryset = MOVEMENT_LIST.order_by("-status_changed_at", "-id")


class MovementDetailView(ViewerRequiredMixin, TemplateView):
    permission = ("transfers.movement", "view")
    template_name = "transfers/movement_detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        movement = get_object_or_404(
            MOVEMENT_LIST.select_related("campaign__hub").prefetch_related("after_steps"), pk=kwargs["pk"]
        )
        return super().get_context_data(
            movement=movement,
            movement_verbs=verbs_for(movement),
            history=object_events(movement),
            **kwargs,
        )


class SitePairView(ViewerRequiredMixin, TemplateView):
    """Everything that moved (or will move) from one site to another."""

    permission = ("transfers.movement", "view")
    template_name = "transfers/site_pair.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        source = get_object_or_404(Site, code=kwargs.pop("source"))
        destination = get_object_or_404(Site, code=kwargs.pop("destination"))
        movements = Movement.objects.filter(sources=source, destination=destination)
        totals = movements.values("status").annotate(n=Count("id"), bytes=Sum("bytes"),
                                                     ingested=Sum("ingested_count")).order_by("status")
        return super().get_context_data(
            source=source,
            destination=destination,
            totals=list(totals),
            movements=MOVEMENT_LIST.filter(pk__in=movements.values("pk")).order_by("-status_changed_at")[:200],
            **kwargs,
        )


# ------------------------------------------------------------------------- contributed to the sites app's pages


def site_page(site: Site) -> dict[str, Any]:
    """``sites.site``: what the site's repositories hold, and the movements on their way to it (the first 100)."""
    incoming = (Movement.objects.filter(destination=site).exclude(status__in=Movement.final_states())
                .select_related("campaign", "destination", "before_step").prefetch_related("sources")
                .order_by("campaign", "id"))
    return {"contents": replica_contents(site), "incoming": incoming[:100]}


def replica_contents(site: Site) -> list[dict[str, Any]]:
    """Return what a site's Butler repositories hold, by repository and dataset type (one query)."""
    return list(
        Replica.objects.filter(butler_repo__site=site)
        .values("butler_repo__name", "dataset_type__name")
        .annotate(datasets=Sum("count"), bytes=Sum("bytes"), collections=Count("id"), updated=Max("updated"))
        .order_by("butler_repo__name", "dataset_type__name")
    )


class VolumeView(ViewerRequiredMixin, TemplateView):
    """The site × site matrix of data moved (bytes, datasets, movements, time), overall or of one campaign."""

    permission = ("transfers.movement", "view")
    template_name = "transfers/volume.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        from .volume import volume_matrix

        campaign_model = Movement.campaign.field.related_model  # transfers imports no campaigns module
        campaign = None
        movements = Movement.objects.all()
        campaign_id = self.request.GET.get("campaign", "")
        if campaign_id:
            if not campaign_id.isdigit():
                raise Http404("campaign: not a campaign id")
            campaign = get_object_or_404(campaign_model, pk=campaign_id)
            movements = movements.filter(campaign=campaign)
        return super().get_context_data(campaign=campaign, matrix=volume_matrix(movements), **kwargs)
