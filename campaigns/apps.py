from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    """Campaigns, their stages, steps, groups and jobs, error rules and the event log."""

    name = "campaigns"
    verbose_name = "Campaigns"

    def ready(self) -> None:
        from . import tasks  # noqa: F401 - registers this app's Celery task names in every process (core.queue)
