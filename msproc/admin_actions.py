"""Admin actions that call a model's verb method on each selected row.

An illegal move is reported per row instead of aborting the whole action.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin, messages

from msproc.lifecycle import IllegalTransition


def transition_action(verb: str, label: str) -> Callable:
    """Return an admin action that calls ``obj.<verb>(actor=request.user)`` on each selected object."""

    @admin.action(description=label)
    def action(modeladmin, request, queryset):
        moved, refused = 0, []
        for obj in queryset:
            try:
                getattr(obj, verb)(actor=request.user, comment=f"admin action: {label}")
                moved += 1
            except IllegalTransition as exc:
                refused.append(str(exc))
        if moved:
            modeladmin.message_user(request, f"{label}: {moved} done.", messages.SUCCESS)
        for reason in refused[:20]:
            modeladmin.message_user(request, reason, messages.WARNING)

    action.__name__ = f"action_{verb}"
    return action
