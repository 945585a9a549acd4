"""Leases on work in flight (core/leases.py): renewed by a thread while the work runs, released after, taken once."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.leases import claimable, new_holder, renewing, takeover_comment
from tests.factories import MovementFactory
from transfers.models import Movement


@pytest.mark.django_db(transaction=True)
def test_a_lease_is_renewed_while_the_work_runs_and_released_after(settings):
    settings.MSPROC_HEARTBEAT_SECONDS = 0.2
    movement = MovementFactory(status="registering")
    holder = new_holder()
    started = timezone.now() - timedelta(seconds=30)
    Movement.objects.filter(pk=movement.pk).update(holder=holder, heartbeat_at=started)
    with renewing(Movement, [movement.pk], holder):
        time.sleep(0.7)  # a slow backend call
        movement.refresh_from_db()
        assert movement.holder == holder and movement.heartbeat_at > started
        assert not Movement.objects.filter(claimable(), pk=movement.pk).exists(), "held by a live worker"
    movement.refresh_from_db()
    assert movement.holder == ""
    assert Movement.objects.filter(claimable(), pk=movement.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_a_lease_another_worker_took_over_is_not_renewed_or_released_by_the_old_holder(settings):
    settings.MSPROC_HEARTBEAT_SECONDS = 0.1
    movement = MovementFactory(status="registering")
    old, new = new_holder(), new_holder()
    Movement.objects.filter(pk=movement.pk).update(holder=old, heartbeat_at=timezone.now())
    with renewing(Movement, [movement.pk], old):
        Movement.objects.filter(pk=movement.pk).update(holder=new)  # taken over meanwhile
        time.sleep(0.3)
    movement.refresh_from_db()
    assert movement.holder == new


def test_holder_names_are_unique_per_call_and_name_the_process():
    import os
    import socket

    first, second = new_holder(), new_holder()
    assert first != second
    assert first.startswith(f"{socket.gethostname()}:{os.getpid()}:")


def test_the_takeover_comment_says_whether_a_worker_died():
    beat = timezone.now()
    assert takeover_comment("w1.example.org:42:abcdef", beat).startswith(
        "taken over after its worker died (worker w1.example.org:42, last heartbeat ")
    assert takeover_comment("", beat).startswith("taken over: the previous attempt stopped without finishing")


@pytest.mark.django_db
def test_the_movement_page_names_its_worker_and_says_when_it_stopped_renewing(staff_user, settings):
    movement = MovementFactory(status="registering", holder="w2.example.org:7:abcdef",
                               heartbeat_at=timezone.now() - timedelta(seconds=settings.MSPROC_LEASE_SECONDS + 5))
    client = Client()
    client.force_login(staff_user)
    page = client.get(reverse("transfers:movement", args=[movement.pk])).content.decode()
    assert "w2.example.org:7:abcdef" in page
    assert "its worker stopped renewing the lease; it will be taken over" in page
    Movement.objects.filter(pk=movement.pk).update(heartbeat_at=timezone.now())
    page = client.get(reverse("transfers:movement", args=[movement.pk])).content.decode()
    assert "w2.example.org:7:abcdef" in page and "stopped renewing" not in page
