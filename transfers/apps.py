from django.apps import AppConfig


class TransfersConfig(AppConfig):
    """Dataset types, replicas and the movements of data between sites."""

    name = "transfers"
    verbose_name = "Transfers"

    def ready(self) -> None:
        from . import tasks  # noqa: F401 - registers this app's Celery task names in every process (core.queue)
