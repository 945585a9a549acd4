"""A worker SIGKILLed while a movement registers and a submission is on its way: its leases stop being renewed,
a second worker takes the work over within about a minute (here: leases of 6 s), the operator sees
"taken over after its worker died", and the campaign completes with nothing lost or duplicated."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, Heartbeat, Job
from core.models import Event
from transfers.models import Movement

from .conftest import Worker, assert_complete_and_nothing_duplicated, process_env, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_work_in_flight_of_a_killed_worker_is_taken_over_and_the_campaign_completes(
        noop_campaign, purge_broker, tmp_path, staff_user, client):
    campaign = noop_campaign
    # The first worker's backends hang: its movements stay registering and its submissions on their way.
    slow = Worker(process_env(tmp_path, MSPROC_NOOP_SUBMIT_SECONDS="300", MSPROC_NOOP_TRANSFER_SECONDS="300"),
                  tmp_path / "worker-1.log", "doomed").start()
    fast = Worker(process_env(tmp_path), tmp_path / "worker-2.log", "rescuer")
    try:
        wait_until(lambda: Movement.objects.exclude(holder="").exists() and Job.objects.exclude(holder="").exists(),
                   90, "a held movement and a held submission", tick=True)
        movement = Movement.objects.exclude(holder="").first()
        job = Job.objects.exclude(holder="").first()
        first_beat = movement.heartbeat_at
        wait_until(lambda: Movement.objects.get(pk=movement.pk).heartbeat_at > first_beat, 10,
                   "the lease to be renewed while the backend call runs")
        assert Heartbeat.objects.filter(kind="worker", name__startswith="doomed@", stopped=False).exists()

        slow.kill()
        killed_at = timezone.now()
        fast.start()
        wait_until(lambda: Campaign.objects.get(pk=campaign.pk).status != "running", 150,
                   "the campaign to finish", every=1, tick=True)
    finally:
        slow.stop()
        fast.stop()

    log = (tmp_path / "worker-2.log").read_text()[-3000:]
    assert Campaign.objects.get(pk=campaign.pk).status == "accepted", log
    assert_complete_and_nothing_duplicated(campaign)
    for kind, pk in (("movement", movement.pk), ("job", job.pk)):
        takeover = Event.objects.get(content_type__model=kind, object_id=pk, verb="take_over")
        assert takeover.comment.startswith("taken over after its worker died (worker "), takeover.comment
        assert (takeover.created - killed_at).total_seconds() < 60, "detected within about a minute"
    # The operator sees it on the movement's page.
    client.force_login(staff_user)
    page = client.get(reverse("transfers:movement", args=[movement.pk])).content.decode()
    assert "taken over after its worker died" in page
    # The dead worker's heartbeat stopped when it was killed; the rescuer's goes on.
    doomed = Heartbeat.objects.get(kind="worker", name__startswith="doomed@")
    assert doomed.last_seen <= killed_at and not doomed.stopped
