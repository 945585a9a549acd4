"""What the UI views share: the page of each kind of object, the operator action page, and list pages driven by
the API's filtersets."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.db import models
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.generic import FormView, ListView

from core import actions, permissions
from core.actions import verbs_for
from core.forms import ActionForm
from core.htmx import RoleRequiredMixin, ViewerRequiredMixin
from core.lifecycle import IllegalTransition

#: What the apps above contribute to a page of an app below: page name -> providers, each returning a dict
#: (context for a page; annotations for a list's queryset). Registered in the contributing app's ready().
_CONTRIBUTIONS: dict[str, list[Callable[..., dict[str, Any]]]] = defaultdict(list)


def contribute(page: str, provider: Callable[..., dict[str, Any]]) -> None:
    """Add ``provider`` to ``page`` (e.g. the groups running at a site, on the site page of an app that imports
    no app). The page calls every provider with its own arguments and merges what they return."""
    if provider not in _CONTRIBUTIONS[page]:
        _CONTRIBUTIONS[page].append(provider)


def contributions(page: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Return what every app contributed to ``page``, merged (empty when none did)."""
    merged: dict[str, Any] = {}
    for provider in _CONTRIBUTIONS.get(page, ()):
        merged.update(provider(*args, **kwargs))
    return merged


def page_url(obj: models.Model) -> str:
    """Return the UI page of an object whose app registered one with its operator actions ("" otherwise)."""
    registration = actions.actions_of(obj)
    if registration is None or registration.page is None:
        return ""
    name, field = registration.page
    return reverse(name, kwargs={field: getattr(obj, field)})


class ActionView(RoleRequiredMixin, FormView):
    """GET: confirm ``verb`` on one object; POST: do it, with the comment in its Event.

    The object's kind must have registered operator actions (``core.actions.register``); the user needs the
    permission table's row of the verb (403 otherwise).
    """

    form_class = ActionForm
    template_name = "core/action_confirm.html"

    def dispatch(self, request, *args, **kwargs):
        self.registration = actions.registered().get(kwargs["label"])
        if self.registration is None:
            raise Http404("no actions on that kind of object")
        if kwargs["verb"] not in self.registration.verbs:
            raise Http404("no such action")
        return super().dispatch(request, *args, **kwargs)

    def get_permission(self) -> tuple[str, str]:
        return self.kwargs["label"], self.kwargs["verb"]

    @classmethod
    def operations(cls) -> list[tuple[str, str]]:
        return [(label, verb) for label, registration in actions.registered().items() for verb in registration.verbs]

    def get_object(self):
        if not hasattr(self, "object"):
            self.object = get_object_or_404(self.registration.model, pk=self.kwargs["pk"])
            if self.kwargs["verb"] not in self.registration.verbs:
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
            actions.perform(obj, verb, actor=self.request.user, comment=form.cleaned_data["comment"])
        except (IllegalTransition, actions.UnknownAction, actions.ActionUnavailable) as exc:
            messages.error(self.request, str(exc))
        else:
            messages.success(self.request, f"{obj}: {verb.replace('_', ' ')} done; it is now {obj.status}.")
        return HttpResponseRedirect(self._back())


class FilteredListView(ViewerRequiredMixin, ListView):
    """A list filtered by a filterset from the query string, so the URL keeps the filters.

    Subclasses set ``filterset_class`` and ``queryset`` (with its select_related).
    """

    filterset_class: Any = None
    paginate_by = 50

    def get_permission(self) -> tuple[str, str]:
        return self.operations()[0]

    @classmethod
    def operations(cls) -> list[tuple[str, str]]:
        """The ``view`` row of the listed model."""
        model = cls.model or cls.queryset.model
        return [cls.permission or (model._meta.label_lower, permissions.VIEW)]

    def get_queryset(self):
        self.filterset = self.filterset_class(self.request.GET or None, queryset=super().get_queryset(),
                                              request=self.request)
        if self.filterset.is_bound and not self.filterset.is_valid():
            return self.filterset.queryset.none()
        return self.filterset.qs

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        query = self.request.GET.copy()
        query.pop("page", None)
        context.update(filterset=self.filterset, filter_query=query.urlencode())
        return context


__all__ = ["ActionView", "FilteredListView", "contribute", "contributions", "page_url", "verbs_for"]
