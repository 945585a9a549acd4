"""Bulk operator actions on groups: a confirmation page with a required comment, then ``core.actions.perform_bulk``."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpResponseRedirect
from django.urls import reverse
from django.views.generic import FormView

from campaigns.filtersets import GroupFilterSet
from campaigns.forms import ActionForm
from campaigns.models import Group
from core.actions import UnknownAction, allowed_verbs, perform_bulk
from core.htmx import RoleRequiredMixin


class GroupBulkActionView(RoleRequiredMixin, FormView):
    """GET: confirm ``verb`` on every group the GroupFilterSet query string matches; POST: do it.

    Refused with 400 and the reasons by parameter (``SearchFilterSet.bulk_errors``) when a parameter
    is not a filter or no filter applied: a bulk action never acts on all groups.
    """

    form_class = ActionForm
    template_name = "campaigns/bulk_confirm.html"

    def get_permission(self) -> tuple[str, str]:
        """The verb's row of the permission table; an unknown verb is answered 404 (``refusal``)."""
        verb = self.kwargs["verb"]
        return (Group._meta.label_lower, verb if verb in allowed_verbs(Group) else "view")

    @classmethod
    def operations(cls) -> list[tuple[str, str]]:
        return [(Group._meta.label_lower, verb) for verb in allowed_verbs(Group)]

    def get_filterset(self) -> GroupFilterSet:
        if not hasattr(self, "filterset"):
            self.filterset = GroupFilterSet(self.request.GET, queryset=Group.objects.all(), request=self.request)
        return self.filterset

    def get(self, request, *args, **kwargs):
        return self.refusal() or super().get(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        return self.refusal() or super().post(request, *args, **kwargs)

    def refusal(self):
        """Return the 400 page when the query string may not select a bulk action's groups, else None."""
        if self.kwargs["verb"] not in allowed_verbs(Group):
            raise Http404("no such action")
        if errors := self.get_filterset().bulk_errors():
            context = super().get_context_data(verb=self.kwargs["verb"], query=self.request.GET.urlencode(),
                                               refused=errors)
            return self.render_to_response(context, status=400)
        return None

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(verb=self.kwargs["verb"], matched=self.get_filterset().qs.count(),
                                        query=self.request.GET.urlencode(), **kwargs)

    def form_valid(self, form: ActionForm):
        verb = self.kwargs["verb"]
        query = self.request.GET.urlencode()
        try:
            result = perform_bulk(self.get_filterset().qs.order_by("pk"), verb, actor=self.request.user,
                                  comment=form.cleaned_data["comment"], description=f"filter: {query}")
        except UnknownAction as exc:
            raise Http404(str(exc))
        level = messages.SUCCESS if not result.refused else messages.WARNING
        messages.add_message(self.request, level, f"{verb.replace('_', ' ')}: {result.touched} of {result.matched}"
                             f" groups moved, {len(result.refused)} refused by their state.")
        return HttpResponseRedirect(f"{reverse('campaigns:group-list')}?{query}")
