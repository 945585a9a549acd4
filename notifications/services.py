"""Turn the event log into notifications, grouped per channel and campaign and rate-limited, and send them.

``dispatch()`` (a beat task, apart from the reconciler tick, so nothing here can slow a tick down) reads the
events written since it last ran, picks those a pilot is told about (a group failed or waits for review, a
movement stuck or failed, a campaign finished) plus the running campaigns that have not moved for
``MSPROC_NOTIFY_STALLED_SECONDS``, and adds each as an item to the *open* notification of every channel that
wants it (the campaign's own channels and the global ones). An open notification is queued once its channel
sent nothing about that campaign for ``min_interval_seconds``; what happens meanwhile joins it (grouping).
Queued notifications are sent by a Celery task enqueued on commit; a send writes an Event on the campaign
(``notify`` or ``notify_failed``), so every message shows in the campaign's event log.

Webhooks get ``{"text": ...}`` (Slack and Mattermost incoming webhooks take the same body); e-mail goes
through Django's mail (``EMAIL_*`` settings).
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone

from campaigns.choices import Status
from campaigns.models import Campaign, Group
from core import queue
from core.models import Event
from transfers.models import Movement

from .choices import ChannelKind, NotificationStatus, Topic
from .models import Channel, Cursor, Notification

logger = logging.getLogger(__name__)

MAX_ITEMS = 50  # per message; beyond, items are only counted
EVENT_BATCH = 5000
WEBHOOK_TIMEOUT = 10.0


class NotifyError(Exception):
    """A message could not be sent; ``permanent`` when retrying cannot help (e.g. HTTP 404 from the webhook)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


# The states an Event's move enters that make it news, from the transition tables.
_TOPIC_STATES = {
    ("group", Topic.GROUP_FAILED): Group.targets_of("fail", "review"),  # failed, reviewable
    ("movement", Topic.MOVEMENT_STUCK): Movement.targets_of("mark_stuck", "fail"),  # stuck, failed
    ("campaign", Topic.CAMPAIGN_FINISHED): Campaign.targets_of("accept", "fail", "reject"),
}


def _topic_of(model: str, to_status: str) -> str | None:
    for (topic_model, topic), states in _TOPIC_STATES.items():
        if model == topic_model and to_status in states:
            return topic
    return None


def _base_url() -> str:
    return settings.MSPROC_BASE_URL.rstrip("/")


def _item(topic: str, text: str, path: str) -> dict[str, str]:
    return {"topic": topic, "text": text, "url": f"{_base_url()}{path}"}


def collect(now: datetime | None = None) -> dict[int, list[dict[str, str]]]:
    """Return ``{campaign id: [item]}``: what happened since the cursor (which moves on), plus stalled campaigns.

    Reads at most ``EVENT_BATCH`` events per call (the next call continues). Three to four queries.
    """
    now = now or timezone.now()
    types = ContentType.objects.get_for_models(Group, Movement, Campaign)
    model_of = {content_type.pk: model._meta.model_name for model, content_type in types.items()}
    cursor, _ = Cursor.objects.select_for_update().get_or_create(name="dispatch")
    rows = list(Event.objects.filter(pk__gt=cursor.last_event_id).order_by("pk")
                .values_list("pk", "content_type_id", "object_id", "object_repr", "campaign_id", "to_status",
                             "comment")[:EVENT_BATCH])
    items: dict[int, list[dict[str, str]]] = defaultdict(list)
    for _event_id, content_type_id, object_id, object_repr, campaign_id, to_status, comment in rows:
        model = model_of.get(content_type_id)
        topic = _topic_of(model, to_status) if model else None
        if topic is None or campaign_id is None:
            continue
        page = {"group": "campaigns:group", "movement": "transfers:movement", "campaign": "campaigns:campaign"}[model]
        why = f": {comment[:160]}" if comment else ""
        items[campaign_id].append(_item(topic, f"{model} #{object_id} ({object_repr}) is {to_status}{why}",
                                        reverse(page, args=[object_id])))
    if rows:
        cursor.last_event_id = rows[-1][0]
        cursor.save(update_fields=["last_event_id"])
    for campaign in stalled_campaigns(now):
        items[campaign.pk].append(_item(
            Topic.CAMPAIGN_STALLED,
            f"campaign {campaign.name} has not moved since {campaign.last_event:%Y-%m-%d %H:%M:%S} UTC",
            reverse("campaigns:campaign", args=[campaign.pk])))
    return items


def stalled_campaigns(now: datetime) -> list[Campaign]:
    """Running campaigns with no event for ``MSPROC_NOTIFY_STALLED_SECONDS``, not yet reported for this stall.

    A stall is reported once: a campaign whose latest ``campaign_stalled`` item is newer than its latest event
    is skipped. Two queries.
    """
    threshold = now - timedelta(seconds=settings.MSPROC_NOTIFY_STALLED_SECONDS)
    candidates = list(Campaign.objects.filter(status=Status.RUNNING)
                      .annotate(last_event=Max("events__created")).filter(last_event__lt=threshold))
    if not candidates:
        return []
    reported: dict[int, datetime] = {}
    for campaign_id, created, items in (Notification.objects.filter(campaign__in=candidates)
                                        .values_list("campaign_id", "created", "items")):
        if any(item.get("topic") == Topic.CAMPAIGN_STALLED for item in items):
            reported[campaign_id] = max(created, reported.get(campaign_id, created))
    return [c for c in candidates if reported.get(c.pk) is None or reported[c.pk] < c.last_event]


def dispatch(now: datetime | None = None) -> list[int]:
    """Collect what happened into open notifications and queue those whose channel may speak again.

    Returns the ids of the notifications queued (their sending is enqueued on commit). Runs under a
    transaction with the cursor row locked, so two dispatchers never read the same events twice.
    """
    now = now or timezone.now()
    queued: list[int] = []
    with transaction.atomic():
        items = collect(now)
        channels = list(Channel.objects.filter(enabled=True)) if items or _has_open() else []
        for campaign_id, campaign_items in items.items():
            for channel in channels:
                if channel.campaign_id not in (None, campaign_id):
                    continue
                wanted = [item for item in campaign_items if channel.wants(item["topic"])]
                if wanted:
                    _add(channel, campaign_id, wanted, now)
        last_sent = {(row["channel_id"], row["campaign_id"]): row["last"] for row in
                     Notification.objects.filter(status=NotificationStatus.SENT).values("channel_id", "campaign_id")
                     .annotate(last=Max("sent_at")).order_by()}
        for notification in Notification.objects.filter(status=NotificationStatus.OPEN).select_related("channel"):
            last = last_sent.get((notification.channel_id, notification.campaign_id))
            if last and now - last < timedelta(seconds=notification.channel.min_interval_seconds):
                continue  # rate-limited: keep collecting
            count = len(notification.items) + notification.dropped
            notification.queue(comment=f"{count} item{'s' if count != 1 else ''} for {notification.channel.name}")
            queued.append(notification.pk)
            queue.send_on_commit("notifications.tasks.send_notification", notification.pk)
    return queued


def _has_open() -> bool:
    return Notification.objects.filter(status=NotificationStatus.OPEN).exists()


def _add(channel: Channel, campaign_id: int, items: list[dict[str, str]], now: datetime) -> Notification:
    notification = (Notification.objects.select_for_update()
                    .filter(channel=channel, campaign_id=campaign_id, status=NotificationStatus.OPEN).first())
    if notification is None:
        notification = Notification.objects.create(channel=channel, campaign_id=campaign_id, created=now,
                                                   status_changed_at=now)
    room = max(MAX_ITEMS - len(notification.items), 0)
    notification.items = notification.items + items[:room]
    notification.dropped += max(len(items) - room, 0)
    notification.save(update_fields=["items", "dropped"])
    return notification


def render(notification: Notification) -> tuple[str, str]:
    """Return (subject, text) of a notification: a count per topic, then one line per item."""
    campaign = notification.campaign
    counts: dict[str, int] = defaultdict(int)
    for item in notification.items:
        counts[item["topic"]] += 1
    summary = ", ".join(f"{n} × {Topic(topic).label.lower()}" for topic, n in counts.items())
    name = campaign.name if campaign else "msproc"
    subject = f"[msproc] {name}: {summary or 'nothing'}"
    lines = [subject]
    if campaign:
        lines.append(f"{_base_url()}{reverse('campaigns:campaign', args=[campaign.pk])}")
    lines += [f"• {item['text']} {item['url']}" for item in notification.items]
    if notification.dropped:
        lines.append(f"… and {notification.dropped} more")
    return subject, "\n".join(lines)


def send(notification_id: int) -> str | None:
    """Send a queued notification once; return its status (None if it is gone or not queued).

    Raises NotifyError for a transient failure (the notification stays queued; the task retries); a
    permanent one marks it failed.
    """
    notification = (Notification.objects.select_related("channel", "campaign")
                    .filter(pk=notification_id, status=NotificationStatus.QUEUED).first())
    if notification is None:
        return None
    subject, text = render(notification)
    channel = notification.channel
    try:
        if channel.kind == ChannelKind.EMAIL:
            send_mail(subject, text, None, channel.addresses(), fail_silently=False)
        else:
            post_webhook(channel.target, {"text": text})
    except NotifyError as exc:
        if not exc.permanent:
            raise
        notification.notify_failed(str(exc))
        return notification.status
    except OSError as exc:  # SMTP and socket errors: transient
        raise NotifyError(f"{type(exc).__name__}: {exc}") from exc
    notification.notify(comment=f"sent to {channel.name} ({channel.get_kind_display()}): {subject}")
    return notification.status


def give_up(notification_id: int, error: str) -> None:
    """Mark a queued notification failed after its last retry (it shows in the campaign's event log)."""
    notification = Notification.objects.filter(pk=notification_id, status=NotificationStatus.QUEUED).first()
    if notification is not None:
        notification.notify_failed(error)


def post_webhook(url: str, body: dict[str, Any], timeout: float = WEBHOOK_TIMEOUT) -> None:
    """POST ``body`` as JSON to a Slack or Mattermost incoming webhook. Raises NotifyError."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        raise NotifyError(f"webhook answered HTTP {exc.code}", permanent=400 <= exc.code < 500 and exc.code != 429) \
            from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise NotifyError(f"webhook unreachable: {exc}") from exc

