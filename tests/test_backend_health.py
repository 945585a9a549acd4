"""A backend's service failing is recorded (only then), shown on the overview and site pages and in the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from sites.models import BackendHealth
from sites.services import failing_backends, report_backend_failure
from tests.factories import CampaignFactory, MovementFactory, SiteFactory
from transfers.backends import TransferBackendError
from transfers.backends import base as transfer_backends
from transfers.backends.noop import NoopTransferBackend
from transfers.choices import MovementStatus as M

pytestmark = pytest.mark.django_db


def test_failures_are_counted_in_runs_and_show_while_recent(settings):
    settings.MSPROC_BACKEND_FAILING_SECONDS = 600
    report_backend_failure("execution", "panda", "poll", "PanDA: Connection refused")
    report_backend_failure("execution", "panda", "submit", "PanDA: timed out")

    health = BackendHealth.objects.get(kind="execution", backend="panda")
    assert (health.failures, health.operation, health.last_error) == (2, "submit", "PanDA: timed out")
    assert [h.backend for h in failing_backends()] == ["panda"]

    BackendHealth.objects.update(last_failure_at=timezone.now() - timedelta(hours=1))
    assert failing_backends() == []  # recovered: nothing failed for longer than the window
    report_backend_failure("execution", "panda", "poll", "PanDA: Connection refused")
    health.refresh_from_db()
    assert health.failures == 1 and health.first_failure_at == health.last_failure_at  # a new run


def test_reporting_never_breaks_the_caller(monkeypatch):
    monkeypatch.setattr(BackendHealth.objects, "select_for_update", lambda: 1 / 0)

    report_backend_failure("transfer", "rucio", "poll", "down")  # logged, not raised

    assert not BackendHealth.objects.exists()


class DownBackend(NoopTransferBackend):
    """A transfer backend whose service does not answer."""

    name = "down"

    def start(self, request):
        raise TransferBackendError("Rucio at http://rucio.example.org is unreachable: ConnectionError")


class RefusingBackend(NoopTransferBackend):
    """A transfer backend that answers, and refuses the movement itself."""

    name = "refusing"

    def start(self, request):
        raise TransferBackendError("nothing matches movement", permanent=True)


def test_a_movement_failing_on_an_unreachable_service_is_recorded_against_the_backend(settings):
    from transfers.services import advance_movement

    transfer_backends.register("down", f"{__name__}.DownBackend")
    settings.MSPROC_TRANSFER_BACKEND = "down"
    hub = SiteFactory(code="SLAC", is_hub=True)
    movement = MovementFactory(campaign=CampaignFactory(hub=hub, status="running"), destination=SiteFactory(code="RAL"),
                               status=M.READY)
    movement.sources.add(hub)

    assert advance_movement(movement.pk) == M.FAILED

    health = BackendHealth.objects.get(kind="transfer", backend="down")
    assert health.operation == "start" and "unreachable" in health.last_error


def test_a_permanent_or_stuck_movement_error_is_not_a_backend_failure(settings):
    from transfers.services import advance_movement

    transfer_backends.register("refusing", f"{__name__}.RefusingBackend")
    settings.MSPROC_TRANSFER_BACKEND = "refusing"
    hub = SiteFactory(code="SLAC", is_hub=True)
    movement = MovementFactory(campaign=CampaignFactory(hub=hub, status="running"), destination=SiteFactory(code="RAL"),
                               status=M.READY)
    movement.sources.add(hub)

    advance_movement(movement.pk)

    assert not BackendHealth.objects.exists()
