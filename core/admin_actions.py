"""Admin actions that perform an operator verb (``core.actions.perform``) on each selected row.

The admin goes through the same operator actions as the UI and the API (so, e.g., retrying a movement
also retries its Rucio rule); a refused or unavailable action is reported per row instead of aborting.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin, messages

from core.lifecycle import IllegalTransition


def transition_action(verb: str, label: str) -> Callable:
    """Return an admin action that performs ``verb`` as the requesting user on each selected object."""

    @admin.action(description=label)
    def action(modeladmin, request, queryset):
        from core.actions import ActionUnavailable, perform

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
