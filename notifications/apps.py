from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    """Notifications to where pilots are: Slack/Mattermost webhooks and e-mail, grouped and rate-limited."""

    name = "notifications"
    verbose_name = "Notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from core import permissions, roles

        from . import tasks  # noqa: F401  (registers the task names core.queue enqueues)
        from .models import Channel, Notification

        # Channels hold webhook URLs and addresses: staff's alone, to read too (core.permissions).
        staff = roles.is_staff_role
        permissions.grant(Channel, view=staff, add=staff, change=staff, delete=staff)
        permissions.grant(Notification, view=staff, add=roles.nobody, change=staff, delete=staff)
