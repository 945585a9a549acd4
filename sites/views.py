"""UI pages of sites: the list (SiteFilterSet), one site's repository, queues, work and history, and
rinse-and-repeat of the embedded sites' repositories."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Count, Q
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.generic import FormView, TemplateView

from campaigns import summaries
from campaigns.choices import Status
from campaigns.models import Campaign, Group
from core.forms import ActionForm
from core.htmx import SiteAdminRequiredMixin, ViewerRequiredMixin
from core.models import Event, object_events
from core.views import FilteredListView, verbs_for
from transfers.choices import MovementStatus
from transfers.models import Movement

from . import tasks
from .filtersets import SiteFilterSet
from .models import ButlerRepo, Site
from .services import failing_backends, failing_window


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
        used = {("execution", site.execution_backend_name()), ("transfer", site.transfer_backend_name())}
        return super().get_context_data(
            site=site,
            failing=[health for health in failing_backends() if (health.kind, health.backend) in used],
            failing_window=failing_window(),
            site_verbs=verbs_for(site),
            contents=summaries.replica_contents(site),
            running=running[:100],
            running_count=running.count(),
            incoming=incoming[:100],
            history=object_events(site, limit=50),
            **kwargs,
        )


class RinseSitesView(SiteAdminRequiredMixin, FormView):
    """GET: confirm rinse-and-repeat of the embedded sites; POST: log it and enqueue ``rinse_sites`` on commit.

    The task tears down every embedded site's Butler repository and rebuilds it; each site page shows its
    repository's status as it goes (absent, creating, ready). One Event records who asked for it and why.
    """

    form_class = ActionForm
    template_name = "sites/rinse_confirm.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        repos = ButlerRepo.objects.filter(name=settings.MSPROC_REPO_NAME).select_related("site").order_by(
            "-site__is_hub", "site__code")
        return super().get_context_data(
            repos=repos, active_campaigns=Campaign.objects.filter(status__in=summaries.ACTIVE_CAMPAIGN).count(),
            **kwargs)

    def form_valid(self, form: ActionForm):
        user, comment = self.request.user, form.cleaned_data["comment"]
        with transaction.atomic():
            event = Event.objects.create(
                content_type=ContentType.objects.get_for_model(Site), object_id=0, object_repr="embedded sites",
                verb="rinse_sites", actor=user, comment=comment,
            )
            transaction.on_commit(partial(tasks.rinse_sites.delay, user.pk))
        messages.success(self.request, f"{event.object_repr}: rinse-and-repeat queued by {user.get_username()}"
                                       f" ({comment}). Each repository is torn down and rebuilt; its status shows"
                                       " on its site's page.")
        return HttpResponseRedirect(reverse("sites:site-list"))
