"""The admin of msproc's models: rights from the permission table, and actions that perform operator verbs.

``TableAdmin`` asks ``core.permissions`` for its view, add, change and delete rights and lists only the
actions whose verb the user may perform, so the admin answers as the UI and the API do. The actions go
through the same operator actions as the UI and the API (``core.actions.perform``: e.g. retrying a
movement also retries its Rucio rule); a refused or unavailable action is reported per row instead of
aborting.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied

from core import permissions, roles
from core.actions import ActionUnavailable, perform
from core.lifecycle import IllegalTransition


def transition_action(verb: str, label: str) -> Callable:
    """Return an admin action that performs ``verb`` as the requesting user on each selected object."""

    @admin.action(description=label)
    def action(modeladmin, request, queryset):
        if not permissions.allows(request.user, queryset.model, verb):
            raise PermissionDenied(f"{verb} needs the {roles.role_name(permissions.role_for(queryset.model, verb))}"
                                   " role")
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
    action.verb = verb
    return action


_INT64 = 2**63


def _out_of_range(value: str) -> bool:
    """Whether ``value`` (or an item of a comma list) is an integer no 64-bit column holds."""
    for item in value.split(","):
        text = item.strip().removeprefix("-")
        if text.isdigit() and len(text) > 18 and not -_INT64 <= int(item) < _INT64:
            return True
    return False


class TableInline(admin.TabularInline):
    """An inline whose rights are the permission table's rows for its model, as `TableAdmin`'s."""

    extra = 0

    def has_view_permission(self, request, obj=None) -> bool:
        return permissions.allows(request.user, self.model, permissions.VIEW)

    def has_add_permission(self, request, obj=None) -> bool:
        return permissions.allows(request.user, self.model, permissions.ADD)

    def has_change_permission(self, request, obj=None) -> bool:
        return permissions.allows(request.user, self.model, permissions.CHANGE)

    def has_delete_permission(self, request, obj=None) -> bool:
        return permissions.allows(request.user, self.model, permissions.DELETE)


class TableAdmin(admin.ModelAdmin):
    """A ModelAdmin whose rights are the permission table's rows for its model (``core.permissions``).

    ``creatable`` and ``deletable`` say whether this admin offers adding and deleting at all (rows made by
    the planner are not added here even by the role the table lets create them elsewhere); where it offers
    an operation, the table decides who may. Actions performing a verb are listed only to users the
    table lets perform it.
    """

    creatable = True
    deletable = True

    def has_module_permission(self, request) -> bool:
        return self.has_view_permission(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return permissions.allows(request.user, self.model, permissions.VIEW)

    def has_add_permission(self, request, *args) -> bool:
        return self.creatable and permissions.allows(request.user, self.model, permissions.ADD)

    def has_change_permission(self, request, obj=None) -> bool:
        return permissions.allows(request.user, self.model, permissions.CHANGE)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self.deletable and permissions.allows(request.user, self.model, permissions.DELETE)

    def offers(self, operation: str) -> bool:
        """Whether this admin offers ``operation`` (a CRUD operation or a verb of its actions) at all."""
        if operation == permissions.ADD:
            return self.creatable
        if operation == permissions.DELETE:
            return self.deletable
        if operation in permissions.CRUD:
            return True
        return any(getattr(action, "verb", None) == operation for action in self.actions or ())

    def get_changelist_instance(self, request):
        """The list, refusing (as any invalid lookup: the admin's "?e=1" page) a filter value no integer column
        holds, such as an id past 2**63 that the database driver cannot even send (a 500 otherwise)."""
        if any(_out_of_range(value) for _, values in request.GET.lists() for value in values):
            raise IncorrectLookupParameters("an integer filter value is out of range")
        return super().get_changelist_instance(request)

    def get_actions(self, request):
        actions = super().get_actions(request)
        return {name: entry for name, entry in actions.items()
                if getattr(entry[0], "verb", None) is None
                or permissions.allows(request.user, self.model, entry[0].verb)}


class VerbsOnlyAdmin(TableAdmin):
    """Admin of a model with a lifecycle: its status changes only through its verbs (the admin actions above).

    The status fields are always read-only. ``editable_fields`` None leaves every other field editable
    (configuration such as a site's RSEs); a tuple makes every field outside it read-only (what the
    planner or the verbs own: a group's site and data IDs, a campaign's spec and plan...). Rows made by
    the planner are not added (``creatable``) nor deleted (``deletable``) here either.
    """

    STATE_FIELDS = ("status", "status_changed_at")
    editable_fields: tuple[str, ...] | None = None

    def get_readonly_fields(self, request, obj=None) -> tuple[str, ...]:
        meta = self.model._meta
        names = [field.name for field in [*meta.fields, *meta.many_to_many]
                 if not field.auto_created and not field.primary_key]
        if self.editable_fields is None:
            fixed = [name for name in names if name in self.STATE_FIELDS]
        else:
            fixed = [name for name in names if name not in self.editable_fields]
        return tuple(dict.fromkeys([*self.readonly_fields, *fixed]))
