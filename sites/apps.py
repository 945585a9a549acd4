from django.apps import AppConfig


class SitesConfig(AppConfig):
    """Data facilities' compute sites, their Butler repositories and PanDA queues."""

    name = "sites"
    verbose_name = "Sites"

    def ready(self) -> None:
        from core import actions, roles

        from . import tasks  # noqa: F401 - registers this app's Celery task names (core.queue)
        from .models import Site

        actions.register(Site, ("drain", "take_offline", "bring_online"), role=roles.can_admin_sites,
                         page=("sites:site", "code"))
