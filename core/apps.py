from django.apps import AppConfig


class CoreConfig(AppConfig):
    """What every msproc app shares: the transition kernel, the audit log, operator actions, roles and bases."""

    name = "core"
    verbose_name = "Core"
