from django.apps import AppConfig


class SitesConfig(AppConfig):
    """Data facilities' compute sites, their Butler repositories and PanDA queues."""

    name = "sites"
    verbose_name = "Sites"

    def ready(self) -> None:
        from . import tasks  # noqa: F401 - registers this app's Celery task names in every process (core.queue)
