"""Admin actions that perform an operator verb (``core.actions.perform``) on each selected row.

The admin goes through the same operator actions as the UI and the API (so, e.g., retrying a movement
also retries its Rucio rule); a refused or unavailable action is reported per row instead of aborting.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin, messages

from core.actions import ActionUnavailable, perform
from core.lifecycle import IllegalTransition


def transition_action(verb: str, label: str) -> Callable:
    """Return an admin action that performs ``verb`` as the requesting user on each selected object."""

    @admin.action(description=label)
    def action(modeladmin, request, queryset):
        moved, refused = 0, []
        for obj in queryset:
            try:
                perform(obj, verb, actor=request.user, comment=f"admin action: {label}")
                moved += 1
            except (IllegalTransition, ActionUnavailable) as exc:
                refused.append(str(exc))
        if moved:
            modeladmin.message_user(request, f"{label}: {moved} done.", messages.SUCCESS)
        for reason in refused[:20]:
            modeladmin.message_user(request, reason, messages.WARNING)

    action.__name__ = f"action_{verb}"
    return action


class VerbsOnlyAdmin(admin.ModelAdmin):
    """Admin of a model with a lifecycle: its status changes only through its verbs (the admin actions above).

    The status fields are always read-only. ``editable_fields`` None leaves every other field editable
    (configuration such as a site's RSEs); a tuple makes every field outside it read-only (what the
    planner or the verbs own: a group's site and data IDs, a campaign's spec and plan...). Rows made by
    the planner are not added (``creatable``) nor deleted (``deletable``) here either.
    """

    STATE_FIELDS = ("status", "status_changed_at")
    editable_fields: tuple[str, ...] | None = None
    creatable = True
    deletable = True

    def get_readonly_fields(self, request, obj=None) -> tuple[str, ...]:
        meta = self.model._meta
        names = [field.name for field in [*meta.fields, *meta.many_to_many]
                 if not field.auto_created and not field.primary_key]
        if self.editable_fields is None:
            fixed = [name for name in names if name in self.STATE_FIELDS]
        else:
            fixed = [name for name in names if name not in self.editable_fields]
        return tuple(dict.fromkeys([*self.readonly_fields, *fixed]))

    def has_add_permission(self, request, *args) -> bool:
        return self.creatable and super().has_add_permission(request, *args)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self.deletable and super().has_delete_permission(request, obj)
