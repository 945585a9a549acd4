"""Liveness: heartbeats of the reconcile tick, the workers and beat; a banner and an API field when stale;
stall thresholds that staff edit and that are shown where they are used."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group as Role
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from campaigns.liveness import liveness, record_heartbeat
from campaigns.models import Heartbeat, StallThreshold
from core.roles import VIEWER
from tests.factories import GroupFactory, HeartbeatFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer():
    user = UserFactory(username="pilot")
    user.groups.add(Role.objects.get_or_create(name=VIEWER)[0])
    return user


@pytest.fixture
def page(viewer):
    client = Client()
    client.force_login(viewer)
    return lambda name="home": client.get(reverse(name)).content.decode()


@pytest.fixture
def api(viewer):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user=viewer, expiry=None)[1]}")
    return client


def all_alive(now=None):
    now = now or timezone.now()
    HeartbeatFactory(kind="tick", name="reconcile", last_seen=now)
    HeartbeatFactory(kind="beat", name="beat-host", last_seen=now)
    return HeartbeatFactory(kind="worker", name="celery@w1", last_seen=now)


def test_it_shows_no_banner_when_the_tick_a_worker_and_beat_are_alive(page):
    all_alive()
    assert liveness().ok
    assert 'id="liveness-banner"' not in page()


def test_it_shows_a_banner_on_every_page_when_no_tick_has_run_recently(page, settings):
    settings.MSPROC_TICK_STALE_SECONDS = 60
    all_alive()
    Heartbeat.objects.filter(kind="tick").update(last_seen=timezone.now() - timedelta(minutes=7))
    for name in ("home", "campaigns:campaign-list", "transfers:movement-list", "sites:site-list"):
        html = page(name)
        assert 'id="liveness-banner"' in html, name
        assert "no reconcile tick for 7 min: nothing moves forward" in html


def test_it_says_when_no_tick_has_ever_run(page):
    HeartbeatFactory(kind="worker", name="celery@w1")
    assert "no reconcile tick has ever run" in page()


def test_it_shows_a_banner_when_no_worker_has_reported(page, settings):
    settings.MSPROC_LIVENESS_SECONDS = 60
    worker = all_alive()
    Heartbeat.objects.filter(pk=worker.pk).update(last_seen=timezone.now() - timedelta(seconds=90))
    assert "no worker has reported for 90 s: work is not being done" in page()


def test_a_worker_that_shut_down_cleanly_is_not_counted_alive(settings):
    worker = all_alive()
    Heartbeat.objects.filter(pk=worker.pk).update(stopped=True)
    state = liveness()
    assert state.alive_workers == []
    assert any(problem.startswith("no worker has reported") for problem in state.problems)


def test_one_live_worker_of_several_is_enough(settings):
    all_alive()
    HeartbeatFactory(kind="worker", name="celery@w2", last_seen=timezone.now() - timedelta(hours=3))
    state = liveness()
    assert state.ok
    assert [row.name for row in state.alive_workers] == ["celery@w1"]


def test_it_says_when_beat_is_not_running(page):
    all_alive()
    Heartbeat.objects.filter(kind="beat").update(last_seen=timezone.now() - timedelta(minutes=5))
    assert "Celery beat is not running (last seen 5 min ago)" in page()


def test_the_api_has_a_stale_field_and_says_why(api, settings):
    settings.MSPROC_TICK_STALE_SECONDS = 60
    all_alive()
    body = api.get("/api/v1/liveness/").json()
    assert (body["ok"], body["stale"], body["problems"]) == (True, False, [])
    assert body["workers"][0]["name"] == "celery@w1" and body["workers"][0]["alive"] is True
    assert body["thresholds"] == {"tick_seconds": 60, "worker_seconds": settings.MSPROC_LIVENESS_SECONDS}
    Heartbeat.objects.filter(kind="tick").update(last_seen=timezone.now() - timedelta(minutes=3))
    body = api.get("/api/v1/liveness/").json()
    assert body["stale"] is True
    assert body["problems"] == ["no reconcile tick for 3 min: nothing moves forward"]
    assert body["tick"]["seconds_ago"] >= 180


def test_the_liveness_api_needs_a_login():
    assert APIClient().get("/api/v1/liveness/").status_code == 401


def test_a_heartbeat_is_one_row_per_process_updated_in_place():
    record_heartbeat("worker", "celery@w1", details={"concurrency": 2})
    first = Heartbeat.objects.get(kind="worker")
    record_heartbeat("worker", "celery@w1", details={"concurrency": 4})
    second = Heartbeat.objects.get(kind="worker")
    assert second.pk == first.pk
    assert second.last_seen >= first.last_seen and second.details == {"concurrency": 4}


def test_the_reconcile_task_writes_the_tick_heartbeat(settings):
    from campaigns.tasks import reconcile

    reconcile()
    tick = Heartbeat.objects.get(kind="tick", name="reconcile")
    assert timezone.now() - tick.last_seen < timedelta(seconds=5)
    assert {"seconds", "groups_ready", "jobs_prepared", "jobs_finished", "host"} <= set(tick.details)


def test_beats_scheduler_writes_beats_heartbeat():
    from msproc.beat import Scheduler
    from msproc.celery import app

    scheduler = Scheduler(app=app, lazy=True)
    scheduler._heartbeat()
    assert Heartbeat.objects.get(kind="beat").stopped is False
    scheduler._heartbeat(stopped=True)
    assert Heartbeat.objects.get(kind="beat").stopped is True


# ------------------------------------------------------------------------------------------- thresholds


def test_stall_thresholds_are_seeded_with_the_former_constants():
    from campaigns.summaries import STALL_DEFAULTS

    rows = {(kind, status): after for kind, status, after in
            StallThreshold.objects.values_list("kind", "status", "after")}
    assert rows == {(kind, status): after for kind, states in STALL_DEFAULTS.items()
                    for status, after in states.items()}


def test_a_threshold_staff_shortened_makes_a_group_stalled_and_is_shown_where_used(page):
    group = GroupFactory(status="running", campaign__status="running")
    type(group).objects.filter(pk=group.pk).update(status_changed_at=timezone.now() - timedelta(hours=3))
    assert f"group {group.ordinal}</a>" not in page(), "running 3 h is within the default 24 h"
    StallThreshold.objects.filter(kind="group", status="running").update(after=timedelta(hours=2))
    html = page()
    assert f"group {group.ordinal}</a>" in html
    assert "stalled (over 2 h running)" in html
    assert "groups ready 2 h, prepared 30 min, running 2 h" in html


def test_staff_edit_the_thresholds_in_the_admin(staff_user):
    client = Client()
    client.force_login(staff_user)
    row = StallThreshold.objects.get(kind="movement", status="registering")
    response = client.post(reverse("admin:campaigns_stallthreshold_change", args=[row.pk]),
                           {"kind": "movement", "status": "registering", "after": "00:20:00"})
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.after == timedelta(minutes=20)
    assert 'href="/admin/campaigns/stallthreshold/"' in client.get(reverse("home")).content.decode()


@pytest.mark.parametrize(("kind", "status", "after", "field"), [
    ("group", "registering", timedelta(hours=1), "status"),
    ("movement", "running", timedelta(hours=1), "status"),
    ("group", "running", timedelta(0), "after"),
])
def test_a_threshold_for_a_state_the_kind_does_not_have_is_refused(kind, status, after, field):
    with pytest.raises(ValidationError) as error:
        StallThreshold(kind=kind, status=status, after=after).full_clean(validate_unique=False)
    assert field in error.value.message_dict
