from django.apps import AppConfig


class CoreConfig(AppConfig):
    """What every msproc app shares: the transition kernel, the audit log, operator actions, roles and bases."""

    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from core import permissions, roles
        from core.models import Event

        # The audit log: read by every role, written only by the verbs (core.permissions).
        permissions.grant(Event, view=roles.can_view, add=roles.nobody, change=roles.nobody, delete=roles.nobody)
