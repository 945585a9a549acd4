"""API of sites, Butler repositories and PanDA queues: site admins write, every role reads."""

from __future__ import annotations

from rest_framework import mixins

from core.api.base import ApiViewSet, with_actions
from sites.filtersets import ButlerRepoFilterSet, PandaQueueFilterSet, SiteFilterSet
from sites.models import BackendHealth, ButlerRepo, PandaQueue, Site

from .serializers import BackendHealthSerializer, ButlerRepoSerializer, PandaQueueSerializer, SiteSerializer


@with_actions(Site)
class SiteViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                  mixins.UpdateModelMixin, ApiViewSet):
    """Sites. Site admins create and change them and drain, take offline or bring them online."""

    queryset = Site.objects.all()
    serializer_class = SiteSerializer
    filterset_class = SiteFilterSet
    ordering_fields = ["code", "name", "status", "share", "status_changed_at"]
    alternate_key = "code"  # /sites/SLAC/ as well as /sites/3/: codes are what every page shows


class ButlerRepoViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                        mixins.UpdateModelMixin, ApiViewSet):
    """Butler repositories of the sites (one per site and repository name)."""

    queryset = ButlerRepo.objects.select_related("site")
    serializer_class = ButlerRepoSerializer
    filterset_class = ButlerRepoFilterSet
    ordering_fields = ["name", "site__code", "status", "status_changed_at"]


class PandaQueueViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                        mixins.UpdateModelMixin, mixins.DestroyModelMixin, ApiViewSet):
    """PanDA queues of the sites."""

    queryset = PandaQueue.objects.select_related("site")
    serializer_class = PandaQueueSerializer
    filterset_class = PandaQueueFilterSet
    ordering_fields = ["name", "site__code", "memory_gb", "kind"]


class BackendHealthViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """Failures of the execution and transfer backends' services (PanDA, Rucio, ...), written by the workers."""

    queryset = BackendHealth.objects.all()
    serializer_class = BackendHealthSerializer
    ordering_fields = ["kind", "backend", "last_failure_at", "failures"]
