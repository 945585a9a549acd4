"""What the UI views share: the page of each kind of object, and list pages driven by the API's filtersets."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.urls import reverse
from django.views.generic import ListView

from core.htmx import ViewerRequiredMixin

# Which operator verbs make sense from which state: only a hint for which buttons to show;
# the model's verb method stays the authority and refuses an illegal move. The models keep each verb's
# source states inside the verb method, so this cannot be read from them without trying the move;
# tests/ui/test_verbs.py tries every verb from every state and fails when this table drifts from them.
VERBS_BY_STATE: dict[str, dict[str, tuple[str, ...]]] = {
    "campaign": {
        "waiting": ("start", "reject"), "running": ("pause", "reject"), "paused": ("resume", "reject"),
        "reviewable": ("reopen", "reject"), "failed": ("reopen", "reject"),
    },
    "step": {
        "waiting": ("pause", "reject"), "ready": ("pause", "reject"), "running": ("pause", "reject"),
        "paused": ("resume", "reject"), "reviewable": ("reopen", "force_accept", "reject"),
        "failed": ("reopen", "force_accept", "reject"),
    },
    "group": {
        "waiting": ("pause", "reject"), "ready": ("pause", "reject"), "paused": ("resume", "reject"),
        "prepared": ("reject",), "running": ("reject",),
        "failed": ("retry", "rescue", "force_accept", "reject"),
        "reviewable": ("retry", "rescue", "force_accept", "reject"),
        "blocked": ("retry", "force_accept", "reject"), "rescuable": ("reject",),
    },
    "movement": {
        "planned": ("cancel",), "ready": ("cancel",), "stuck": ("retry", "cancel"), "failed": ("retry", "cancel"),
    },
    "site": {"online": ("drain", "take_offline"), "draining": ("take_offline", "bring_online"),
             "offline": ("bring_online",)},
}

_PAGES = {
    "campaign": ("campaigns:campaign", "pk"),
    "step": ("campaigns:step", "pk"),
    "group": ("campaigns:group", "pk"),
    "movement": ("transfers:movement", "pk"),
    "site": ("sites:site", "code"),
}


def verbs_for(obj: models.Model) -> tuple[str, ...]:
    """Return the operator verbs worth offering on ``obj`` in its current state."""
    return VERBS_BY_STATE.get(obj._meta.model_name, {}).get(obj.status, ())


def page_url(obj: models.Model) -> str:
    """Return the UI page of a campaign, step, group, movement or site ("" for other objects)."""
    page = _PAGES.get(obj._meta.model_name)
    if page is None:
        return ""
    name, field = page
    return reverse(name, kwargs={field: getattr(obj, field)})


class FilteredListView(ViewerRequiredMixin, ListView):
    """A list filtered by a filterset from the query string, so the URL keeps the filters.

    Subclasses set ``filterset_class`` and ``queryset`` (with its select_related).
    """

    filterset_class: Any = None
    paginate_by = 50

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
