from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    """Notifications to where pilots are: Slack/Mattermost webhooks and e-mail, grouped and rate-limited."""

    name = "notifications"
    verbose_name = "Notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import tasks  # noqa: F401  (registers the task names core.queue enqueues)
