"""FilterSets of templates, campaigns, stages, steps, groups, jobs, error rules and events (UI and API)."""

from __future__ import annotations

import django_filters as filters
from django import forms
from django.contrib.contenttypes.models import ContentType
from django.core.validators import RegexValidator
from django.db.models import Exists, OuterRef, QuerySet

from core.models import Event
from core.timing import TimeSortFilter
from sites.filtersets import DateTimeRangeFilter, SearchFilterSet, SiteCodeFilter
from sites.models import Site

from .choices import ErrorAction, Scope, Status
from .models import Campaign, CampaignTemplate, ErrorRule, Group, Job, Stage, Step

UNMATCHED = "unmatched"


class ErrorRuleRefField(forms.CharField):
    """An error rule id, or ``unmatched`` for failures no rule matched."""

    default_validators = [RegexValidator(rf"^({UNMATCHED}|\d{{1,18}})$", f"Use a rule id or '{UNMATCHED}'.")]


class ErrorRuleRefFilter(filters.CharFilter):
    """``?error_rule=3`` or ``?error_rule=unmatched`` (no rule matched the error)."""

    field_class = ErrorRuleRefField

    def filter(self, qs: QuerySet, value: str) -> QuerySet:
        if not value:
            return qs
        if value == UNMATCHED:
            return qs.filter(**{f"{self.field_name}__isnull": True})
        return qs.filter(**{f"{self.field_name}_id": int(value)})


def _campaign_filter() -> filters.ModelChoiceFilter:
    return filters.ModelChoiceFilter(queryset=Campaign.objects.all(), label="Campaign")


class CampaignTemplateFilterSet(SearchFilterSet):
    search_fields = ("name", "description")

    created = DateTimeRangeFilter()

    class Meta:
        model = CampaignTemplate
        fields = ["name", "version"]


class CampaignFilterSet(SearchFilterSet):
    search_fields = ("name", "output_prefix")

    status = filters.MultipleChoiceFilter(choices=Status.choices)
    hub = SiteCodeFilter(field_name="hub", label="Hub site")
    site = SiteCodeFilter(method="filter_site", label="Site with groups of the campaign")
    owner = filters.CharFilter(field_name="owner__username", label="Owner (user name)")
    created = DateTimeRangeFilter()
    finished = DateTimeRangeFilter(field_name="finished_at")
    sort = TimeSortFilter()

    class Meta:
        model = Campaign
        fields = ["template"]

    def filter_site(self, queryset: QuerySet, name: str, value: list[Site]) -> QuerySet:
        if not value:
            return queryset
        return queryset.filter(Exists(Group.objects.filter(campaign_id=OuterRef("pk"), site__in=value)))


class StageFilterSet(SearchFilterSet):
    search_fields = ("name",)

    campaign = _campaign_filter()

    class Meta:
        model = Stage
        fields = ["name"]


class StepFilterSet(SearchFilterSet):
    search_fields = ("name",)

    status = filters.MultipleChoiceFilter(choices=Status.choices)
    campaign = _campaign_filter()
    scope = filters.ChoiceFilter(choices=Scope.choices)
    step = filters.CharFilter(field_name="name", label="Step (name)")
    site = SiteCodeFilter(method="filter_site", label="Site with groups of the step")
    changed = DateTimeRangeFilter(field_name="status_changed_at", label="Status changed")

    class Meta:
        model = Step
        fields = ["stage"]

    def filter_site(self, queryset: QuerySet, name: str, value: list[Site]) -> QuerySet:
        if not value:
            return queryset
        return queryset.filter(Exists(Group.objects.filter(step_id=OuterRef("pk"), site__in=value)))


class GroupFilterSet(SearchFilterSet):
    search_fields = ("data_query", "last_error", "step__name")

    status = filters.MultipleChoiceFilter(choices=Status.choices)
    campaign = _campaign_filter()
    step = filters.CharFilter(field_name="step__name", label="Step (name)")
    site = SiteCodeFilter()
    error_rule = ErrorRuleRefFilter(label="Error rule (id or 'unmatched')")
    changed = DateTimeRangeFilter(field_name="status_changed_at", label="Status changed")
    sort = TimeSortFilter()

    class Meta:
        model = Group
        fields = ["ordinal"]


class JobFilterSet(SearchFilterSet):
    search_fields = ("workflow_name", "run_collection", "error")

    status = filters.MultipleChoiceFilter(choices=Status.choices)
    campaign = filters.ModelChoiceFilter(field_name="group__campaign", queryset=Campaign.objects.all(),
                                         label="Campaign")
    step = filters.CharFilter(field_name="group__step__name", label="Step (name)")
    site = SiteCodeFilter(field_name="group__site")
    error_rule = ErrorRuleRefFilter(label="Error rule (id or 'unmatched')")
    created = DateTimeRangeFilter()
    finished = DateTimeRangeFilter(field_name="finished_at")

    class Meta:
        model = Job
        fields = ["group", "backend", "rescue"]


class ErrorRuleFilterSet(SearchFilterSet):
    search_fields = ("name", "pattern", "description")

    action = filters.MultipleChoiceFilter(choices=ErrorAction.choices)

    class Meta:
        model = ErrorRule
        fields = ["enabled"]


EVENT_SUBJECTS = (
    ("campaign", "Campaign"), ("step", "Step"), ("group", "Group"), ("job", "Job"),
    ("movement", "Movement"), ("site", "Site"), ("butlerrepo", "Butler repository"),
)


class EventFilterSet(SearchFilterSet):
    search_fields = ("object_repr", "verb", "comment")

    campaign = _campaign_filter()
    subject = filters.MultipleChoiceFilter(choices=EVENT_SUBJECTS, method="filter_subject",
                                           label="Kind of object")
    verb = filters.CharFilter()
    actor = filters.CharFilter(field_name="actor__username", label="Actor (user name)")
    created = DateTimeRangeFilter()

    class Meta:
        model = Event
        fields = ["object_id"]

    def filter_subject(self, queryset: QuerySet, name: str, value: list[str]) -> QuerySet:
        if not value:
            return queryset
        types = ContentType.objects.filter(model__in=value,
                                           app_label__in=("campaigns", "transfers", "sites"))
        return queryset.filter(content_type__in=types)
