"""Operator actions: a confirmation page with a required comment, then ``core.actions.perform``."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib import messages
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.generic import FormView

from campaigns.filtersets import GroupFilterSet
from campaigns.forms import ActionForm
from campaigns.models import Group
from core.actions import OPERATOR_VERBS, ActionUnavailable, UnknownAction, allowed_verbs, perform, perform_bulk
from core.htmx import RoleRequiredMixin
from core.lifecycle import IllegalTransition
from core.roles import can_admin_sites, can_operate
from core.views import page_url


def _role_for(label: str):
    return can_admin_sites if label == "sites.site" else can_operate


class ActionView(RoleRequiredMixin, FormView):
    """GET: confirm ``verb`` on one object; POST: do it, with the comment in its Event.

    Site actions need the site admin role, the others the operator role (403 otherwise).
    """

    form_class = ActionForm
    template_name = "campaigns/action_confirm.html"

    def dispatch(self, request, *args, **kwargs):
        self.label = kwargs["label"]
        if self.label not in OPERATOR_VERBS:
            raise Http404("no actions on that kind of object")
        return super().dispatch(request, *args, **kwargs)

    def has_role(self, user: Any) -> bool:
        return _role_for(self.label)(user)

    def get_object(self):
        if not hasattr(self, "object"):
            model = apps.get_model(self.label)
            self.object = get_object_or_404(model, pk=self.kwargs["pk"])
            if self.kwargs["verb"] not in allowed_verbs(model):
                raise Http404("no such action")
        return self.object

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        obj = self.get_object()
        return super().get_context_data(obj=obj, verb=self.kwargs["verb"], back=self._back(), **kwargs)

    def _back(self) -> str:
        target = self.request.POST.get("next") or self.request.GET.get("next")
        if target and url_has_allowed_host_and_scheme(target, {self.request.get_host()}):
            return target
        return page_url(self.get_object()) or reverse("home")

    def form_valid(self, form: ActionForm):
        obj = self.get_object()
        verb = self.kwargs["verb"]
        try:
            perform(obj, verb, actor=self.request.user, comment=form.cleaned_data["comment"])
        except (IllegalTransition, UnknownAction, ActionUnavailable) as exc:
            messages.error(self.request, str(exc))
        else:
            messages.success(self.request, f"{obj}: {verb.replace('_', ' ')} done; it is now {obj.status}.")
        return HttpResponseRedirect(self._back())


class GroupBulkActionView(RoleRequiredMixin, FormView):
    """GET: confirm ``verb`` on every group the GroupFilterSet query string matches; POST: do it.

    Refused with 400 and the reasons by parameter (``SearchFilterSet.bulk_errors``) when a parameter
    is not a filter or no filter applied: a bulk action never acts on all groups.
    """

    form_class = ActionForm
    template_name = "campaigns/bulk_confirm.html"
    role_check = staticmethod(can_operate)

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
