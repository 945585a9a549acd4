"""Vocabularies of the notifications app."""

from django.db import models


class ChannelKind(models.TextChoices):
    SLACK = "slack", "Slack webhook"
    MATTERMOST = "mattermost", "Mattermost webhook"
    EMAIL = "email", "E-mail"


class Topic(models.TextChoices):
    """What a pilot is told about."""

    GROUP_FAILED = "group_failed", "A group failed or waits for review"
    MOVEMENT_STUCK = "movement_stuck", "A movement is stuck or failed"
    CAMPAIGN_STALLED = "campaign_stalled", "A running campaign has not moved for a while"
    CAMPAIGN_FINISHED = "campaign_finished", "A campaign finished (accepted, failed or rejected)"


class NotificationStatus(models.TextChoices):
    """open: collecting items (rate-limited) --queue--> queued --send--> sent | failed."""

    OPEN = "open", "Collecting"
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"

    @classmethod
    def colour(cls, value: str) -> str:
        return {"open": "secondary", "queued": "info", "sent": "success", "failed": "danger"}.get(value, "secondary")
