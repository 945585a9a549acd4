"""The audit log every app writes to: one ``Event`` per transition or operator action."""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone


class Event(models.Model):
    """One state change or operator action: who, when, on what, from, to, why.

    ``campaign`` points at the model named by ``settings.MSPROC_EVENT_CAMPAIGN_MODEL`` (as
    ``AUTH_USER_MODEL`` names the user model), so core names no app; an object says which campaign
    its events belong to through ``StatefulModel.event_campaign_id()``.
    """

    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, db_index=False)  # (content_type, id)
    object_id = models.PositiveBigIntegerField()
    subject = GenericForeignKey("content_type", "object_id")
    object_repr = models.CharField(max_length=200)
    campaign = models.ForeignKey(settings.MSPROC_EVENT_CAMPAIGN_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                                 related_name="events", db_index=False)  # (campaign, -created)
    verb = models.CharField(max_length=64)
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    comment = models.TextField(blank=True)
    created = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        db_table = "campaigns_event"  # the table predates the core app (moved by state only)
        ordering = ["-created", "-id"]
        indexes = [
            models.Index(fields=["content_type", "object_id"], name="campaigns_e_content_a5fe83_idx"),
            models.Index(fields=["campaign", "-created"], name="campaigns_e_campaig_a5425a_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.object_repr}: {self.verb} {self.from_status}->{self.to_status}"


def object_events(obj: models.Model, limit: int = 100) -> list[Event]:
    """Return the latest events of one object (its state history), newest first."""
    content_type = ContentType.objects.get_for_model(type(obj))
    return list(Event.objects.filter(content_type=content_type, object_id=obj.pk).select_related("actor")[:limit])
