"""Where to notify (channels, global or per campaign) and what was notified (grouped notifications)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models
from django.utils import timezone

from core.lifecycle import StatefulModel

from .choices import ChannelKind, NotificationStatus, Topic

N = NotificationStatus


class Channel(models.Model):
    """A Slack/Mattermost incoming webhook or a list of e-mail addresses, for one campaign or (no campaign) all.

    ``topics`` (empty: every topic) says what it is told; ``min_interval_seconds`` is the rate limit: at most
    one message per campaign in that interval, the items in between grouped into the next message.
    """

    name = models.CharField(max_length=128, unique=True)
    kind = models.CharField(max_length=16, choices=ChannelKind.choices)
    target = models.TextField(help_text="The webhook URL, or e-mail addresses separated by commas.")
    campaign = models.ForeignKey("campaigns.Campaign", null=True, blank=True, on_delete=models.CASCADE,
                                 related_name="notification_channels", help_text="Empty: every campaign.")
    topics = models.JSONField(default=list, blank=True,
                              help_text=f"Topics to send (empty: all): {', '.join(Topic.values)}.")
    min_interval_seconds = models.PositiveIntegerField(default=300, help_text="At most one message per campaign "
                                                       "in this many seconds; what happens meanwhile is grouped.")
    enabled = models.BooleanField(default=True)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        topics = self.topics if self.topics is not None else []
        if not isinstance(topics, list) or not all(isinstance(topic, str) for topic in topics):
            raise ValidationError({"topics": f"must be a list of topics (strings) from {Topic.values}, "
                                             f"got {str(self.topics)[:200]}"})
        unknown = sorted(set(topics) - set(Topic.values))
        if unknown:
            raise ValidationError({"topics": f"unknown topics {unknown}; choose from {Topic.values}"})
        if self.kind == ChannelKind.EMAIL:
            for address in self.addresses():
                try:
                    validate_email(address)
                except ValidationError:
                    raise ValidationError({"target": f"not an e-mail address: {address!r}"}) from None
        elif not self.target.startswith(("http://", "https://")):
            raise ValidationError({"target": "a webhook URL starts with http:// or https://"})

    def addresses(self) -> list[str]:
        return [part.strip() for part in self.target.split(",") if part.strip()]

    def wants(self, topic: str) -> bool:
        return not self.topics or topic in self.topics


class Notification(StatefulModel):
    """One message to one channel about one campaign, grouping what happened since the previous one.

    Lifecycle::

        open --queue--> queued --notify--> sent
        queued --notify_failed--> failed --queue--> queued
    """

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="notifications")
    campaign = models.ForeignKey("campaigns.Campaign", null=True, blank=True, on_delete=models.CASCADE,
                                 related_name="notifications")
    TRANSITIONS = {
        "queue": ({N.OPEN, N.FAILED}, N.QUEUED),
        "notify": ({N.QUEUED}, N.SENT),
        "notify_failed": ({N.QUEUED}, N.FAILED),
    }

    status = models.CharField(max_length=8, choices=NotificationStatus.choices, default=N.OPEN)
    items = models.JSONField(default=list, blank=True,
                             help_text='What it tells, e.g. [{"topic": "group_failed", "text": "...", "url": ...}].')
    dropped = models.PositiveIntegerField(default=0, help_text="Items past the cap, only counted.")
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    created = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["channel", "campaign", "status"])]

    def __str__(self) -> str:
        return f"notification #{self.pk} to {self.channel_id and self.channel.name}"

    def event_campaign_id(self) -> int | None:
        return self.campaign_id

    def queue(self, *, actor=None, comment: str = "") -> None:
        """open|failed -> queued: its message is to be sent."""
        self._transition("queue", actor=actor, comment=comment)

    def notify(self, *, comment: str = "") -> None:
        """queued -> sent."""
        self._transition("notify", comment=comment, sent_at=timezone.now(), error="",
                         attempts=models.F("attempts") + 1)

    def notify_failed(self, error: str) -> None:
        """queued -> failed, keeping the error."""
        self._transition("notify_failed", comment=error[:500], error=error,
                         attempts=models.F("attempts") + 1)


class Cursor(models.Model):
    """How far the dispatcher has read the event log (one row per reader)."""

    name = models.CharField(max_length=32, unique=True)
    last_event_id = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name} at event {self.last_event_id}"
