"""A campaign's timeline per site (Gantt) and its graph of steps and movements."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from django.views.generic import TemplateView

from campaigns.graph import campaign_graph
from campaigns.models import Campaign
from campaigns.timeline import campaign_timeline
from core.htmx import ViewerRequiredMixin


class CampaignFigureView(ViewerRequiredMixin, TemplateView):
    permission = ("campaigns.campaign", "view")

    def get_campaign(self) -> Campaign:
        return get_object_or_404(Campaign.objects.select_related("hub"), pk=self.kwargs["pk"])


class CampaignTimelineView(CampaignFigureView):
    """When each step ran at each site, and the movements that gated it there."""

    template_name = "campaigns/campaign_timeline.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        campaign = self.get_campaign()
        return super().get_context_data(campaign=campaign, timeline=campaign_timeline(campaign), **kwargs)


class CampaignGraphView(CampaignFigureView):
    """Steps and movements as a directed graph, coloured by state, each node a link to its page."""

    template_name = "campaigns/campaign_graph.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        campaign = self.get_campaign()
        return super().get_context_data(campaign=campaign, graph=campaign_graph(campaign), **kwargs)
