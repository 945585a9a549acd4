"""Every legal and illegal transition of each lifecycle, the Event rows, and the two-workers guard."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from campaigns.choices import Status
from core.lifecycle import IllegalTransition
from core.models import Event
from sites.choices import RepoStatus, SiteStatus
from tests.factories import (
    ButlerRepoFactory,
    CampaignFactory,
    GroupFactory,
    JobFactory,
    MovementFactory,
    SiteFactory,
    StepFactory,
    UserFactory,
)
from transfers.choices import MovementStatus

# The graphs as the people running campaigns expect them; written out here, not derived from the code.
CAMPAIGN = {
    "start": ({"waiting"}, "running"),
    "pause": ({"running"}, "paused"),
    "resume": ({"paused"}, "running"),
    "review": ({"running"}, "reviewable"),
    "reopen": ({"reviewable", "failed"}, "running"),
    "accept": ({"running"}, "accepted"),
    "fail": ({"running", "reviewable"}, "failed"),
    "reject": ({"waiting", "running", "paused", "reviewable", "failed"}, "rejected"),
}
STEP = {
    "make_ready": ({"waiting"}, "ready"),
    "start": ({"ready"}, "running"),
    "accept": ({"running"}, "accepted"),
    "review": ({"running"}, "reviewable"),
    "reopen": ({"reviewable", "failed"}, "running"),
    "fail": ({"running", "reviewable"}, "failed"),
    "force_accept": ({"reviewable", "failed"}, "accepted"),
    "pause": ({"waiting", "ready", "running"}, "paused"),
    "resume": ({"paused"}, "waiting"),
    "reject": ({"waiting", "ready", "running", "reviewable", "failed", "paused"}, "rejected"),
}
GROUP = {
    "make_ready": ({"waiting"}, "ready"),
    "prepare": ({"ready", "rescuable"}, "prepared"),
    "start": ({"prepared"}, "running"),
    "accept": ({"running"}, "accepted"),
    "fail": ({"prepared", "running"}, "failed"),
    "review": ({"running"}, "reviewable"),
    "block": ({"running"}, "blocked"),
    "unblock": ({"blocked"}, "running"),
    "retry": ({"failed", "reviewable", "blocked"}, "ready"),
    "rescue": ({"failed", "reviewable"}, "rescuable"),
    "force_accept": ({"failed", "reviewable", "blocked"}, "accepted"),
    "pause": ({"waiting", "ready"}, "paused"),
    "resume": ({"paused"}, "waiting"),
    "reject": ({"waiting", "ready", "prepared", "running", "failed", "reviewable", "blocked", "rescuable", "paused"},
               "rejected"),
}
JOB = {
    "start": ({"prepared"}, "running"),
    "accept": ({"running"}, "accepted"),
    "fail": ({"prepared", "running"}, "failed"),
    "review": ({"running"}, "reviewable"),
    "block": ({"running"}, "blocked"),
    "unblock": ({"blocked"}, "running"),
    "supersede": ({"failed", "reviewable"}, "rescued"),
    "reject": ({"prepared", "running", "blocked", "failed", "reviewable"}, "rejected"),
}
MOVEMENT = {
    "make_ready": ({"planned"}, "ready"),
    "start_registering": ({"ready"}, "registering"),
    "start_transferring": ({"registering"}, "transferring"),
    "start_ingesting": ({"transferring"}, "ingesting"),
    "finish": ({"ingesting"}, "done"),
    "mark_stuck": ({"registering", "transferring", "ingesting"}, "stuck"),
    "fail": ({"registering", "transferring", "ingesting", "stuck"}, "failed"),
    "retry": ({"stuck", "failed"}, "ready"),
    "cancel": ({"planned", "ready", "stuck", "failed"}, "cancelled"),
}
MOVEMENT_ARGS = {
    "start_ingesting": {"transferred": 3},
    "finish": {"ingested": 3},
    "mark_stuck": {"reason": "rule STUCK"},
    "fail": {"error": "boom"},
}
SITE = {
    "drain": ({"online"}, "draining"),
    "take_offline": ({"online", "draining"}, "offline"),
    "bring_online": ({"draining", "offline"}, "online"),
}
REPO = {
    "start_creating": ({"absent", "failed"}, "creating"),
    "mark_ready": ({"creating"}, "ready"),
    "mark_failed": ({"creating", "tearing_down"}, "failed"),
    "start_teardown": ({"ready", "failed"}, "tearing_down"),
    "mark_absent": ({"tearing_down"}, "absent"),
}
REPO_ARGS = {"mark_failed": {"error": "disk full"}}


def _cases(graph, statuses):
    return [(verb, status) for verb in graph for status in statuses]


def _check(obj, graph, verb, status, kwargs=None):
    sources, target = graph[verb]
    type(obj).objects.filter(pk=obj.pk).update(status=status)
    obj.refresh_from_db()
    events_before = Event.objects.count()
    method = getattr(obj, verb)
    if status in sources:
        method(**(kwargs or {}))
        obj.refresh_from_db()
        assert obj.status == target
        event = Event.objects.latest("id")
        assert Event.objects.count() == events_before + 1
        assert (event.verb, event.from_status, event.to_status, event.object_id) == (verb, status, target, obj.pk)
    else:
        with pytest.raises(IllegalTransition) as excinfo:
            method(**(kwargs or {}))
        obj.refresh_from_db()
        assert obj.status == status, "a refused move changes nothing"
        assert Event.objects.count() == events_before, "a refused move leaves no event"
        assert excinfo.value.current == status


@pytest.mark.django_db
@pytest.mark.parametrize(("verb", "status"), _cases(CAMPAIGN, Status.values))
def test_campaign_lifecycle(verb, status):
    _check(CampaignFactory(), CAMPAIGN, verb, status)


@pytest.mark.django_db
@pytest.mark.parametrize(("verb", "status"), _cases(STEP, Status.values))
def test_step_lifecycle(verb, status):
    _check(StepFactory(), STEP, verb, status)


@pytest.mark.django_db
@pytest.mark.parametrize(("verb", "status"), _cases(GROUP, Status.values))
def test_group_lifecycle(verb, status):
    _check(GroupFactory(), GROUP, verb, status)


@pytest.mark.django_db
@pytest.mark.parametrize(("verb", "status"), _cases(JOB, Status.values))
def test_job_lifecycle(verb, status):
    _check(JobFactory(), JOB, verb, status)


@pytest.mark.django_db
@pytest.mark.parametrize(("verb", "status"), _cases(MOVEMENT, MovementStatus.values))
def test_movement_lifecycle(verb, status):
    _check(MovementFactory(), MOVEMENT, verb, status, MOVEMENT_ARGS.get(verb))


@pytest.mark.django_db
@pytest.mark.parametrize(("verb", "status"), _cases(SITE, SiteStatus.values))
def test_site_lifecycle(verb, status):
    _check(SiteFactory(), SITE, verb, status)


@pytest.mark.django_db
@pytest.mark.parametrize(("verb", "status"), _cases(REPO, RepoStatus.values))
def test_butler_repo_lifecycle(verb, status):
    _check(ButlerRepoFactory(), REPO, verb, status, REPO_ARGS.get(verb))


@pytest.mark.django_db
def test_an_event_records_who_why_and_the_campaign():
    user = UserFactory()
    group = GroupFactory(status="failed")
    group.retry(actor=user, comment="node was rebooted")
    event = Event.objects.get(verb="retry")
    assert event.actor == user
    assert event.comment == "node was rebooted"
    assert event.campaign_id == group.campaign_id
    assert event.subject == group


@pytest.mark.django_db
def test_movement_attempts_count_each_registration():
    movement = MovementFactory(status="ready")
    movement.start_registering()
    assert movement.attempts == 1
    movement.fail("rucio down")
    movement.retry()
    movement.start_registering()
    assert movement.attempts == 2
    assert movement.last_error == "rucio down"


@pytest.mark.django_db
def test_group_prepare_counts_attempts_and_keeps_the_error_rule():
    group = GroupFactory(status="ready")
    group.prepare()
    group.start()
    assert group.attempts == 1
    group.fail("MemoryError in isr")
    group.refresh_from_db()
    assert group.last_error == "MemoryError in isr"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("attempt", range(3))
def test_two_workers_at_once_exactly_one_wins(attempt):
    group = GroupFactory(status="prepared")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker():
        from campaigns.models import Group

        mine = Group.objects.get(pk=group.pk)  # each worker has its own copy and connection
        barrier.wait()
        try:
            mine.start()
            result = "won"
        except IllegalTransition:
            result = "refused"
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refused", "won"]
    assert Event.objects.filter(verb="start", object_id=group.pk).count() == 1
