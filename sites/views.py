"""UI pages of sites: the list (SiteFilterSet), one site's repository, queues, work and history, and
rinse-and-repeat of the embedded sites' repositories."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.generic import FormView, TemplateView

from core.forms import ActionForm
from core.htmx import RoleRequiredMixin, ViewerRequiredMixin
from core.models import Event, object_events
from core.views import FilteredListView, contributions, verbs_for

from . import tasks
from .filtersets import SiteFilterSet
from .models import ButlerRepo, Site
from .services import failing_backends, failing_window


class SiteListView(FilteredListView):
    """The sites, each annotated with what the apps above contribute (``sites.site_list``: e.g. groups
    running and pending there)."""

    template_name = "sites/site_list.html"
    filterset_class = SiteFilterSet
    model = Site

    def get_queryset(self):
        self.queryset = Site.objects.annotate(**contributions("sites.site_list")).order_by("-is_hub", "code")
        return super().get_queryset()


class SiteDetailView(ViewerRequiredMixin, TemplateView):
    """Butler repository state, PanDA queues, history, and what the apps above contribute (``sites.site``:
    e.g. the repository's contents, the groups running there, the movements coming to it)."""

    permission = ("sites.site", "view")

    template_name = "sites/site_detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        site = get_object_or_404(Site.objects.prefetch_related("butler_repos", "queues"), code=kwargs["code"])
        used = {("execution", site.execution_backend_name()), ("transfer", site.transfer_backend_name())}
        return super().get_context_data(
            site=site,
            failing=[health for health in failing_backends() if (health.kind, health.backend) in used],
            failing_window=failing_window(),
            site_verbs=verbs_for(site),
            history=object_events(site, limit=50),
            **contributions("sites.site", site),
            **kwargs,
        )


class RinseSitesView(RoleRequiredMixin, FormView):
    """GET: confirm rinse-and-repeat of the embedded sites; POST: log it and enqueue ``rinse_sites`` on commit.

    The task tears down every embedded site's Butler repository and rebuilds it; each site page shows its
    repository's status as it goes (absent, creating, ready). One Event records who asked for it and why.
    """

    form_class = ActionForm
    template_name = "sites/rinse_confirm.html"
    permission = ("sites.site", "rinse")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        repos = ButlerRepo.objects.filter(name=settings.MSPROC_REPO_NAME).select_related("site").order_by(
            "-site__is_hub", "site__code")
        return super().get_context_data(repos=repos, **contributions("sites.rinse"), **kwargs)

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
