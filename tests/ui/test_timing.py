"""Issue 17, item 1: start, end, duration and time in state on every page and list; lists sort by duration."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Group
from core.timing import format_seconds
from tests.factories import CampaignFactory, GroupFactory, MovementFactory, StepFactory

pytestmark = pytest.mark.django_db


def test_it_formats_durations_to_the_second():
    assert [format_seconds(s) for s in (0, 45, 125, 3723, 3 * 86400 + 4 * 3600 + 5 * 60 + 6)] == [
        "0s", "45s", "2m 05s", "1h 02m 03s", "3d 4h 05m 06s"]


def test_a_group_keeps_the_start_of_its_first_attempt_and_ends_when_accepted():
    group = GroupFactory(status="ready")
    group.prepare()
    first = group.started_at
    assert first is not None
    group.fail("boom")
    group.retry()
    group.prepare()
    group.refresh_from_db()
    assert group.started_at == first and group.finished_at is None
    group.start()
    group.accept()
    group.refresh_from_db()
    assert group.finished_at >= first


def test_a_step_records_when_it_started_and_finished():
    step = StepFactory(status="ready")
    step.start()
    step.accept()
    step.refresh_from_db()
    assert step.started_at is not None and step.finished_at >= step.started_at


def _group(step, minutes: int, finished: bool = True) -> Group:
    now = timezone.now()
    return GroupFactory(step=step, status="accepted" if finished else "running",
                        started_at=now - timedelta(minutes=minutes + 10),
                        finished_at=now - timedelta(minutes=10) if finished else None)


def test_the_group_list_sorts_the_slowest_first(viewer_client):
    step = StepFactory()
    fast, slow, running = _group(step, 2), _group(step, 30), _group(step, 5, finished=False)
    unstarted = GroupFactory(step=step, status="waiting")
    response = viewer_client.get(reverse("campaigns:group-list") + "?sort=-duration")
    assert [g.pk for g in response.context["object_list"]] == [slow.pk, running.pk, fast.pk, unstarted.pk]
    html = response.content.decode()
    assert "30m 00s" in html  # the slow one ran from 40 to 10 minutes ago
    assert "so far" in html  # the running one's duration is still growing
    fastest = viewer_client.get(reverse("campaigns:group-list") + "?sort=duration").context["object_list"]
    assert [g.pk for g in fastest][:2] == [fast.pk, running.pk]


def test_the_movement_list_sorts_the_slowest_first_and_shows_times(viewer_client):
    campaign = CampaignFactory()
    now = timezone.now()
    quick = MovementFactory(campaign=campaign, status="done", started_at=now - timedelta(seconds=70),
                            finished_at=now - timedelta(seconds=10))
    slow = MovementFactory(campaign=campaign, status="done", started_at=now - timedelta(hours=2),
                           finished_at=now - timedelta(hours=1))
    response = viewer_client.get(reverse("transfers:movement-list") + f"?campaign={campaign.pk}&sort=-duration")
    assert [m.pk for m in response.context["object_list"]] == [slow.pk, quick.pk]
    html = response.content.decode()
    assert "1h 00m 00s" in html and "1m 00s" in html


def test_the_campaign_page_and_list_show_start_end_and_duration(viewer_client):
    now = timezone.now()
    campaign = CampaignFactory(status="accepted", started_at=now - timedelta(minutes=8, seconds=3),
                               finished_at=now)
    page = viewer_client.get(reverse("campaigns:campaign", args=[campaign.pk])).content.decode()
    assert "8m 03s" in page and campaign.started_at.strftime("%Y-%m-%d %H:%M:%S") in page
    listing = viewer_client.get(reverse("campaigns:campaign-list") + "?sort=-duration").content.decode()
    assert "8m 03s" in listing


def test_finished_campaigns_stay_findable_from_the_home_page(viewer_client):
    now = timezone.now()
    done = CampaignFactory(status="accepted", started_at=now - timedelta(hours=1), finished_at=now)
    html = viewer_client.get(reverse("home")).content.decode()
    assert "Finished lately" in html and done.name in html and "1h 00m 00s" in html


def test_a_group_page_shows_its_times_and_time_in_state(viewer_client):
    group = _group(StepFactory(), 3)
    html = viewer_client.get(reverse("campaigns:group", args=[group.pk])).content.decode()
    assert "Started" in html and "Duration" in html and "In this state" in html and "3m 00s" in html
