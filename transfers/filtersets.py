"""FilterSets of dataset types, replicas and movements, shared by the UI and the API."""

from __future__ import annotations

import django_filters as filters
from django.db.models import Exists, OuterRef, Q, QuerySet

from core.timing import TimeSortFilter
from sites.filtersets import DateTimeRangeFilter, SearchFilterSet, SiteCodeFilter
from sites.models import Site

from .choices import MovementKind, MovementStatus
from .models import DatasetType, Movement, Replica


class DatasetTypeFilterSet(SearchFilterSet):
    search_fields = ("name", "storage_class")

    class Meta:
        model = DatasetType
        fields = ["name", "storage_class"]


class ReplicaFilterSet(SearchFilterSet):
    search_fields = ("collection", "dataset_type__name")

    site = SiteCodeFilter(field_name="butler_repo__site")
    dataset_type = filters.CharFilter(field_name="dataset_type__name", label="Dataset type (name)")
    updated = DateTimeRangeFilter()

    class Meta:
        model = Replica
        fields = ["butler_repo", "collection"]


class MovementFilterSet(SearchFilterSet):
    search_fields = ("key", "last_error", "destination__code")

    status = filters.MultipleChoiceFilter(choices=MovementStatus.choices)
    kind = filters.MultipleChoiceFilter(choices=MovementKind.choices)
    campaign = filters.ModelChoiceFilter(queryset=lambda request: Movement.campaign.field.related_model.objects.all())
    site = SiteCodeFilter(method="filter_site", label="Site (source or destination)")
    destination = SiteCodeFilter(field_name="destination", label="Destination site")
    source = SiteCodeFilter(method="filter_source", label="Source site")
    step = filters.CharFilter(field_name="before_step__name", label="Step it gates (name)")
    created = DateTimeRangeFilter()
    changed = DateTimeRangeFilter(field_name="status_changed_at", label="Status changed")
    sort = TimeSortFilter()

    class Meta:
        model = Movement
        fields: list[str] = []

    def _sourced_from(self, sites: list[Site]) -> Exists:
        through = Movement.sources.through
        return Exists(through.objects.filter(movement_id=OuterRef("pk"), site__in=sites))

    def filter_site(self, queryset: QuerySet, name: str, value: list[Site]) -> QuerySet:
        if not value:
            return queryset
        return queryset.filter(Q(destination__in=value) | self._sourced_from(value))

    def filter_source(self, queryset: QuerySet, name: str, value: list[Site]) -> QuerySet:
        return queryset.filter(self._sourced_from(value)) if value else queryset
