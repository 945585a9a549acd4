"""FilterSets of sites, Butler repositories and PanDA queues, shared by the UI and the API.

Also the base every msproc FilterSet builds on: a free-text ``q`` over
``search_fields`` and a ``site`` filter by site code (several allowed).
"""

from __future__ import annotations

from datetime import UTC
from typing import Any, ClassVar

import django_filters as filters
from django import forms
from django.db.models import Q, QuerySet
from django.forms.utils import ErrorDict
from django_filters.constants import EMPTY_VALUES
from django_filters.fields import IsoDateTimeRangeField, ModelMultipleChoiceField
from django_filters.widgets import SuffixedMultiWidget
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from .choices import DataFacility, QueueKind, RepoStatus, SiteStatus
from .models import ButlerRepo, PandaQueue, Site


class SearchFilterSet(filters.FilterSet):
    """A FilterSet with ``q``: a case-insensitive substring search over ``search_fields``.

    It also says whether it may select the objects of a bulk action (``bulk_errors``).
    """

    search_fields: ClassVar[tuple[str, ...]] = ()

    q = filters.CharFilter(method="filter_q", label="Search")

    def get_form_class(self) -> type[forms.Form]:
        """The filters' form, with choice errors that quote the value (a blank one shows) and list the choices."""
        base = super().get_form_class()

        class Form(base):  # type: ignore[misc, valid-type]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                for field in self.fields.values():
                    if isinstance(field, forms.ChoiceField) and not isinstance(field, forms.ModelChoiceField):
                        values = ", ".join(str(value) for value, _ in field.choices if value not in EMPTY_VALUES)
                        field.error_messages["invalid_choice"] = f"%(value)r is not one of: {values}."

        return Form

    def parameter_names(self) -> set[str]:
        """Return every query parameter a declared filter reads (``created_after``, ``created_before``...)."""
        names: set[str] = set()
        for name, field in self.form.fields.items():
            widget = field.widget
            if isinstance(widget, SuffixedMultiWidget):
                names.update(widget.suffixed(name, suffix) for suffix in widget.suffixes)
            else:
                names.add(name)
        return names

    @property
    def errors(self) -> ErrorDict:
        """The form's errors, each under the query parameter the user typed.

        A range filter reads two parameters (``created_after``, ``created_before``) but the form reports it
        under its own name (``created``): its errors go under each of its parameters whose value is wrong.
        """
        renamed = ErrorDict()
        for name, messages in self.form.errors.items():
            field = self.form.fields.get(name)
            widget = getattr(field, "widget", None)
            if not isinstance(widget, SuffixedMultiWidget) or not isinstance(field, forms.MultiValueField):
                renamed[name] = messages
                continue
            wrong = []
            for suffix, part in zip(widget.suffixes, field.fields, strict=True):
                parameter = widget.suffixed(name, suffix)
                try:
                    part.clean(self.data.get(parameter))
                except forms.ValidationError:
                    wrong.append(parameter)
            for parameter in wrong or [name]:
                renamed[parameter] = messages
        return renamed

    def applied_filters(self) -> list[str]:
        """Return the declared filters that restrict the rows: those whose cleaned value is not empty.

        Only meaningful once ``is_valid()`` is true.
        """
        applied = []
        for name, value in self.form.cleaned_data.items():
            if isinstance(value, slice):  # a date range with neither end given
                value = None if value.start is None and value.stop is None else value
            elif isinstance(value, QuerySet):  # model multiple choices: none chosen is an empty queryset
                value = list(value)
            if value not in EMPTY_VALUES:
                applied.append(name)
        return applied

    def bulk_errors(self, ignore: tuple[str, ...] = ()) -> dict[str, list[str]]:
        """Return why this filterset may not select the objects of a bulk action, by parameter ({} if it may).

        A bulk action acts on every object its filters match, so it is refused when a parameter is
        not a filter of the list (a misspelt filter such as ``campaign_id``, or ``page``/``page_size``/
        ``ordering``: a bulk action acts on every match, never on one page) or when no declared
        filter applied (every value empty). Invalid filter values come first, as the form's errors.
        ``ignore`` names parameters to pass over (a list page asks with its ``page``).
        """
        if self.is_bound and not self.is_valid():
            return {name: [str(message) for message in messages] for name, messages in self.errors.items()}
        data = self.data if self.is_bound else {}
        known = self.parameter_names()
        kind = self.queryset.model._meta.verbose_name_plural
        errors = {
            name: [f"Not a filter of {kind}; bulk actions take only filters: {', '.join(sorted(known))}."]
            for name in data if name not in known and name not in ignore
        }
        if not (self.is_bound and self.applied_filters()):
            given = ", ".join(sorted(data)) or "none"
            errors["non_field_errors"] = [
                f"No filter applied (parameters given: {given}): bulk actions never act on all {kind}."]
        return errors

    def filter_q(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        """Return the rows where any of ``search_fields`` contains every word of ``value``."""
        for word in value.split():
            condition = Q()
            for field in self.search_fields:
                condition |= Q(**{f"{field}__icontains": word})
            queryset = queryset.filter(condition)
        return queryset


class SiteCodeField(ModelMultipleChoiceField):
    """Site codes; refuses NUL characters before they reach the database."""

    def clean(self, value: Any) -> Any:
        if any("\x00" in str(code) for code in (value or [])):
            raise forms.ValidationError("Null characters are not allowed.")
        return super().clean(value)


class UtcIsoDateTimeRangeField(IsoDateTimeRangeField):
    """An ISO 8601 range, converted to UTC so any offset the database would refuse is normalised or refused."""

    def clean(self, value: Any) -> Any:
        result = super().clean(value)
        if result is None:
            return result
        try:
            ends = [end.astimezone(UTC) if end is not None else None for end in (result.start, result.stop)]
        except (OverflowError, ValueError):
            raise forms.ValidationError("Date out of range.")
        return slice(*ends)


class DateTimeRangeFilter(filters.IsoDateTimeFromToRangeFilter):
    """``<name>_after`` / ``<name>_before`` with ISO 8601 dates or date-times."""

    field_class = UtcIsoDateTimeRangeField


@extend_schema_field(OpenApiTypes.STR)
class SiteCodeFilter(filters.ModelMultipleChoiceFilter):
    """Sites by code (``?site=LANCS&site=RAL``) on a foreign key path such as ``site`` or ``group__site``."""

    field_class = SiteCodeField

    def __init__(self, field_name: str = "site", **kwargs: Any) -> None:
        kwargs.setdefault("queryset", Site.objects.all())
        kwargs.setdefault("to_field_name", "code")
        kwargs.setdefault("label", "Site")
        kwargs.setdefault("distinct", False)
        # The filter compares the field with each chosen site's code, so it follows the relation to ``code``.
        super().__init__(field_name=f"{field_name}__code", **kwargs)


class SiteFilterSet(SearchFilterSet):
    search_fields = ("code", "name", "compute_site", "queue_prefix")

    site = SiteCodeFilter(method="filter_site")
    status = filters.MultipleChoiceFilter(choices=SiteStatus.choices)
    facility = filters.MultipleChoiceFilter(choices=DataFacility.choices)
    changed = DateTimeRangeFilter(field_name="status_changed_at", label="Status changed")

    class Meta:
        model = Site
        fields = ["is_hub"]

    def filter_site(self, queryset: QuerySet, name: str, value: list[Site]) -> QuerySet:
        return queryset.filter(pk__in=[site.pk for site in value]) if value else queryset


class ButlerRepoFilterSet(SearchFilterSet):
    search_fields = ("name", "root_uri", "site__code")

    site = SiteCodeFilter()
    status = filters.MultipleChoiceFilter(choices=RepoStatus.choices)
    changed = DateTimeRangeFilter(field_name="status_changed_at", label="Status changed")

    class Meta:
        model = ButlerRepo
        fields = ["name"]


class PandaQueueFilterSet(SearchFilterSet):
    search_fields = ("name", "site__code")

    site = SiteCodeFilter()
    kind = filters.MultipleChoiceFilter(choices=QueueKind.choices)

    class Meta:
        model = PandaQueue
        fields = ["memory_gb"]
