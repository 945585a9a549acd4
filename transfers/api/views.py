"""API of dataset types, replicas and movements (read; movements also retry/cancel by operators)."""

from __future__ import annotations

from django.db.models import Prefetch
from rest_framework import mixins

from core.api.base import ApiViewSet, with_actions
from sites.models import Site
from transfers.filtersets import DatasetTypeFilterSet, MovementFilterSet, ReplicaFilterSet
from transfers.models import DatasetType, Movement, Replica

from .serializers import DatasetTypeSerializer, MovementSerializer, ReplicaSerializer


class ReadOnlyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    pass


class DatasetTypeViewSet(ReadOnlyViewSet):
    """Butler dataset types known to msproc."""

    queryset = DatasetType.objects.all()
    serializer_class = DatasetTypeSerializer
    filterset_class = DatasetTypeFilterSet
    ordering_fields = ["name"]


class ReplicaViewSet(ReadOnlyViewSet):
    """Dataset counts per collection and dataset type in each site's Butler repository."""

    queryset = Replica.objects.select_related("butler_repo__site", "dataset_type")
    serializer_class = ReplicaSerializer
    filterset_class = ReplicaFilterSet
    ordering_fields = ["updated", "count", "bytes", "collection"]


@with_actions(Movement, bulk=True)
class MovementViewSet(ReadOnlyViewSet):
    """Movements of data between sites. Operators retry or cancel them, one by one or in bulk by filter."""

    queryset = Movement.objects.select_related("destination", "before_step").prefetch_related(
        Prefetch("sources", queryset=Site.objects.only("id", "code")),
        Prefetch("dataset_types", queryset=DatasetType.objects.only("id", "name")),
        Prefetch("after_steps", queryset=Movement.after_steps.rel.model.objects.only("id")),
    )
    serializer_class = MovementSerializer
    filterset_class = MovementFilterSet
    ordering_fields = ["id", "created", "updated", "status", "status_changed_at", "kind"]
