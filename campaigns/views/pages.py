"""Read-only pages of campaigns, steps, groups, errors and events."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from django.views.generic import TemplateView

from campaigns import summaries
from campaigns.charts import line_chart
from campaigns.choices import Status
from campaigns.eta import estimate_campaigns
from campaigns.filtersets import UNMATCHED, CampaignFilterSet, EventFilterSet, GroupFilterSet
from campaigns.models import Campaign, Group, Job, Step
from core import permissions
from core.actions import allowed_verbs
from core.htmx import ViewerRequiredMixin, is_htmx
from core.models import Event, object_events
from core.timing import bucket_name
from core.views import FilteredListView, verbs_for
from sites.services import failing_backends, failing_window
from transfers.models import Movement


class HomeView(ViewerRequiredMixin, TemplateView):
    """Active campaigns with progress, sites with their load, and everything stalled or failed."""

    permission = ("campaigns.campaign", "view")
    template_name = "campaigns/home.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        campaigns = summaries.active_campaigns()
        estimates = estimate_campaigns([campaign.pk for campaign in campaigns])
        for campaign in campaigns:
            campaign.estimate = estimates[campaign.pk].overall
        thresholds = summaries.stall_thresholds()
        return super().get_context_data(
            campaigns=campaigns,
            finished=summaries.recently_finished_campaigns(),
            failing=failing_backends(),
            failing_window=failing_window(),
            sites=summaries.sites_with_load(),
            attention=summaries.needs_attention(thresholds=thresholds),
            thresholds={kind: [(status, summaries.human_duration(after)) for status, after in states.items()]
                        for kind, states in thresholds.items()},
            **kwargs,
        )


class CampaignListView(FilteredListView):
    template_name = "campaigns/campaign_list.html"
    filterset_class = CampaignFilterSet
    queryset = Campaign.objects.select_related("hub", "owner").order_by("-created")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        order = {campaign.pk: index for index, campaign in enumerate(context["object_list"])}
        rows = summaries.campaigns_with_progress(Campaign.objects.filter(pk__in=list(order)))
        context["campaigns"] = sorted(rows, key=lambda campaign: order[campaign.pk])  # the page's (sorted) order
        return context


class CampaignDetailView(ViewerRequiredMixin, TemplateView):
    """The matrix, the steps with their gating movements, the plots and the event log.

    The live part (``campaigns/_campaign_live.html``) polls itself every 3 s while the campaign
    is not finished; an htmx request gets only that part.
    """

    permission = ("campaigns.campaign", "view")
    template_name = "campaigns/campaign_detail.html"
    live_template_name = "campaigns/_campaign_live.html"
    live = False  # True for the partial's own URL

    def get_template_names(self) -> list[str]:
        return [self.live_template_name if self.live or is_htmx(self.request) else self.template_name]

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        campaign = get_object_or_404(Campaign.objects.select_related("hub", "owner", "template"), pk=kwargs["pk"])
        done, per_site, width = summaries.job_throughput(campaign)
        span = summaries.campaign_span(campaign)
        context = {
            "campaign": campaign,
            "campaign_verbs": verbs_for(campaign),
            "matrix": summaries.step_site_matrix(campaign),
            "progress": summaries.campaigns_with_progress(Campaign.objects.filter(pk=campaign.pk))[0],
            "progress_chart": line_chart([done], x_range=span),
            "throughput_chart": line_chart(per_site, step=True, x_range=span),
            "bucket": bucket_name(width),
            "events": summaries.campaign_events(campaign),
            "estimate": estimate_campaigns([campaign.pk])[campaign.pk],
        }
        if not (self.live or is_htmx(self.request)):
            context["steps"] = summaries.steps_with_movements(campaign)
        return super().get_context_data(**context, **kwargs)


class StepDetailView(ViewerRequiredMixin, TemplateView):
    permission = ("campaigns.step", "view")
    template_name = "campaigns/step_detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        movements = (
            Movement.objects.select_related("destination", "before_step").prefetch_related("sources").order_by("id")
        )
        step = get_object_or_404(
            Step.objects.select_related("campaign", "stage", "campaign__hub").prefetch_related(
                "depends_on", Prefetch("gating_movements", queryset=movements),
                Prefetch("feeding_movements", queryset=movements),
            ),
            pk=kwargs["pk"],
        )
        return super().get_context_data(
            step=step,
            step_verbs=verbs_for(step),
            per_site=summaries.step_site_counts(step),
            groups=Group.objects.filter(step=step)
            .select_related("campaign", "step", "site", "error_rule")
            .order_by("ordinal")[:200],
            events=object_events(step, limit=50),
            **kwargs,
        )


class GroupDetailView(ViewerRequiredMixin, TemplateView):
    permission = ("campaigns.group", "view")
    template_name = "campaigns/group_detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        group = get_object_or_404(
            Group.objects.select_related("campaign", "step", "step__stage", "site", "error_rule"), pk=kwargs["pk"]
        )
        jobs = list(Job.objects.filter(group=group).select_related("error_rule").order_by("-attempt"))
        return super().get_context_data(
            group=group,
            group_verbs=verbs_for(group),
            jobs=jobs,
            latest_job=jobs[0] if jobs else None,
            events=object_events(group, limit=50),
            **kwargs,
        )


class GroupListView(FilteredListView):
    """Groups filtered by GroupFilterSet; operators can act on every group the filter matches."""

    template_name = "campaigns/group_list.html"
    filterset_class = GroupFilterSet
    queryset = Group.objects.select_related("campaign", "step", "site", "error_rule").order_by(
        "-status_changed_at", "-id"
    )

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        # Bulk buttons only where the bulk page would accept the filters (an applied filter, nothing else):
        # the operator verbs that apply to failed groups (what a bulk action is for).
        acceptable = self.filterset.is_bound and not self.filterset.bulk_errors(ignore=("page",))
        verbs = Group.verbs_from(Status.FAILED, allowed_verbs(Group)) if acceptable else ()
        context["bulk_verbs"] = [verb for verb in verbs if permissions.allows(self.request.user, Group, verb)]
        return context


class ErrorSummaryView(ViewerRequiredMixin, TemplateView):
    """Failed and reviewable groups counted by ErrorRule (or unmatched) x site."""

    permission = ("campaigns.group", "view")
    template_name = "campaigns/error_summary.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        rows, sites = summaries.error_summary()
        for row in rows:
            row["ref"] = row["rule_id"] if row["rule_id"] is not None else UNMATCHED
        return super().get_context_data(rows=rows, sites=sites, failed_statuses=sorted(summaries.GROUP_FAILED),
                                        **kwargs)


class EventListView(FilteredListView):
    template_name = "campaigns/event_list.html"
    filterset_class = EventFilterSet
    queryset = Event.objects.select_related("actor", "campaign", "content_type")
