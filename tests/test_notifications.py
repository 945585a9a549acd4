"""Issue 17, item 7: notifications to a Slack/Mattermost webhook (a local receiver here) and by e-mail,
per campaign or global, grouped and rate-limited, sent apart from the tick, and shown in the event log."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone

from core.models import Event
from notifications.models import Channel, Notification
from notifications.services import NotifyError, dispatch, send
from tests.factories import CampaignFactory, GroupFactory, MovementFactory, StepFactory

pytestmark = pytest.mark.django_db


class Receiver:
    """A local incoming-webhook server: records every JSON body POSTed to it; answers ``status``."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(receiver.status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/msproc"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def eager(settings):
    from msproc.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = True
    app.conf.task_always_eager = True
    yield settings
    app.conf.task_always_eager = False


def run_dispatch(capture, now=None) -> list[int]:
    with capture(execute=True):
        return dispatch(now)


def failed_group(campaign, error: str = "MemoryError: out of memory"):
    group = GroupFactory(campaign=campaign, step=StepFactory(campaign=campaign), status="running")
    group.fail(error)
    return group


def test_a_failed_group_reaches_the_webhook_and_the_campaigns_event_log(
        receiver, eager, django_capture_on_commit_callbacks):
    Channel.objects.create(name="pilots", kind="mattermost", target=receiver.url)
    campaign = CampaignFactory(status="running")
    group = failed_group(campaign)
    assert len(run_dispatch(django_capture_on_commit_callbacks)) == 1
    assert len(receiver.bodies) == 1
    text = receiver.bodies[0]["text"]
    assert campaign.name in text and f"group #{group.pk}" in text and "MemoryError" in text
    assert f"/campaigns/groups/{group.pk}/" in text
    notified = Event.objects.filter(campaign=campaign, verb="notify").get()
    assert notified.to_status == "sent" and "sent to pilots" in notified.comment
    assert run_dispatch(django_capture_on_commit_callbacks) == []  # each event is told once
    assert len(receiver.bodies) == 1


def test_what_happens_within_the_rate_limit_is_grouped_into_the_next_message(
        receiver, eager, django_capture_on_commit_callbacks):
    Channel.objects.create(name="pilots", kind="slack", target=receiver.url, min_interval_seconds=600)
    campaign = CampaignFactory(status="running")
    failed_group(campaign)
    run_dispatch(django_capture_on_commit_callbacks)
    later = [failed_group(campaign, "boom") for _ in range(3)]
    movement = MovementFactory(campaign=campaign, status="transferring")
    movement.mark_stuck("Rucio rule STUCK")
    assert run_dispatch(django_capture_on_commit_callbacks) == []  # rate-limited: collected, not sent
    assert len(receiver.bodies) == 1
    open_one = Notification.objects.get(status="open")
    assert len(open_one.items) == 4
    run_dispatch(django_capture_on_commit_callbacks, now=timezone.now() + timedelta(minutes=11))
    assert len(receiver.bodies) == 2
    text = receiver.bodies[1]["text"]
    assert all(f"group #{group.pk}" in text for group in later) and f"movement #{movement.pk}" in text
    assert "3 × a group failed" in text and "1 × a movement is stuck" in text


def test_a_campaign_channel_hears_only_its_campaign_and_its_topics(
        receiver, eager, django_capture_on_commit_callbacks):
    mine, other = CampaignFactory(status="running"), CampaignFactory(status="running")
    Channel.objects.create(name="mine", kind="slack", target=receiver.url, campaign=mine,
                           topics=["campaign_finished"])
    failed_group(mine)
    failed_group(other)
    run_dispatch(django_capture_on_commit_callbacks)
    assert receiver.bodies == []
    mine.reject(comment="enough")
    run_dispatch(django_capture_on_commit_callbacks)
    assert len(receiver.bodies) == 1 and mine.name in receiver.bodies[0]["text"]
    assert "is rejected" in receiver.bodies[0]["text"] and other.name not in receiver.bodies[0]["text"]


def test_an_email_channel_sends_through_django_mail(eager, django_capture_on_commit_callbacks):
    Channel.objects.create(name="mail", kind="email", target="pilot@example.org, second@example.org")
    campaign = CampaignFactory(status="running")
    failed_group(campaign)
    run_dispatch(django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["pilot@example.org", "second@example.org"] and campaign.name in message.subject


def test_a_webhook_that_refuses_marks_the_message_failed_in_the_event_log(
        receiver, eager, django_capture_on_commit_callbacks):
    receiver.status = 404
    Channel.objects.create(name="gone", kind="slack", target=receiver.url)
    campaign = CampaignFactory(status="running")
    failed_group(campaign)
    run_dispatch(django_capture_on_commit_callbacks)
    notification = Notification.objects.get()
    assert notification.status == "failed" and "HTTP 404" in notification.error
    assert Event.objects.filter(campaign=campaign, verb="notify_failed").exists()


def test_an_unreachable_webhook_is_a_transient_error_and_the_message_stays_queued(django_capture_on_commit_callbacks):
    channel = Channel.objects.create(name="down", kind="slack", target="http://127.0.0.1:9/nothing-listens")
    campaign = CampaignFactory(status="running")
    failed_group(campaign)
    with django_capture_on_commit_callbacks(execute=False):
        [pk] = dispatch()
    with pytest.raises(NotifyError) as caught:
        send(pk)
    assert not caught.value.permanent
    assert Notification.objects.get(pk=pk).status == "queued" and channel.enabled


def test_a_stalled_campaign_is_reported_once_per_stall(receiver, eager, django_capture_on_commit_callbacks, settings):
    settings.MSPROC_NOTIFY_STALLED_SECONDS = 600
    Channel.objects.create(name="pilots", kind="slack", target=receiver.url, min_interval_seconds=0)
    campaign = CampaignFactory(status="waiting")
    campaign.start()
    Event.objects.filter(campaign=campaign).update(created=timezone.now() - timedelta(hours=1))
    run_dispatch(django_capture_on_commit_callbacks)
    assert len(receiver.bodies) == 1 and "has not moved since" in receiver.bodies[0]["text"]
    run_dispatch(django_capture_on_commit_callbacks)
    assert len(receiver.bodies) == 1


def test_a_channel_refuses_unknown_topics_and_bad_targets():
    with pytest.raises(ValidationError) as caught:
        Channel(name="x", kind="slack", target="ftp://nope", topics=["everything"]).clean()
    assert "topics" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        Channel(name="y", kind="email", target="pilot@example.org, not-an-address").clean()
    assert "target" in caught.value.message_dict
