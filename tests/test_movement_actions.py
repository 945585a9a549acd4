"""Retrying a movement goes through its backend first; when the backend does not answer nothing changes."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from core.actions import ActionUnavailable, perform, perform_bulk
from tests.factories import MovementFactory
from transfers.backends import TransferBackendError
from transfers.backends import base as transfer_backends
from transfers.backends.noop import NoopTransferBackend
from transfers.models import Movement


class UnreachableRucio(NoopTransferBackend):
    name = "unreachable"

    def retry(self, ids):
        raise TransferBackendError("rucio: connection refused")


class AnsweringRucio(NoopTransferBackend):
    name = "answering"
    retried: list[str] = []

    def retry(self, ids):
        AnsweringRucio.retried.append(ids["rule_id"])
        return {**ids, "retry_requested": True}


@pytest.fixture
def stuck_movement(db, settings):
    transfer_backends.register("unreachable", f"{__name__}.UnreachableRucio")
    transfer_backends.register("answering", f"{__name__}.AnsweringRucio")
    return MovementFactory(status="stuck", external_ids={"rule_id": "abc123"}, last_error="rule STUCK")


def test_retry_asks_the_backend_to_retry_the_rule_first(stuck_movement, settings):
    settings.MSPROC_TRANSFER_BACKEND = "answering"
    AnsweringRucio.retried = []
    perform(stuck_movement, "retry", comment="source file restored")
    stuck_movement.refresh_from_db()
    assert stuck_movement.status == "ready"
    assert AnsweringRucio.retried == ["abc123"]
    assert stuck_movement.external_ids["retry_requested"] is True


def test_retry_with_the_backend_down_changes_nothing(stuck_movement, settings):
    settings.MSPROC_TRANSFER_BACKEND = "unreachable"
    with pytest.raises(ActionUnavailable, match="connection refused"):
        perform(stuck_movement, "retry")
    stuck_movement.refresh_from_db()
    assert (stuck_movement.status, stuck_movement.external_ids) == ("stuck", {"rule_id": "abc123"})


def test_bulk_retry_with_the_backend_down_reports_it_per_movement(stuck_movement, settings):
    settings.MSPROC_TRANSFER_BACKEND = "unreachable"
    result = perform_bulk(Movement.objects.filter(pk=stuck_movement.pk), "retry")
    assert (result.touched, result.refused[0]["status"]) == (0, "stuck")
    assert "connection refused" in result.refused[0]["error"]


def test_the_api_answers_503_when_the_backend_is_down(stuck_movement, settings, staff_user):
    settings.MSPROC_TRANSFER_BACKEND = "unreachable"
    client = APIClient()
    client.force_authenticate(staff_user)
    response = client.post(f"/api/v1/movements/{stuck_movement.pk}/retry/", {"comment": "try again"}, format="json")
    assert response.status_code == 503
    assert "connection refused" in response.json()["detail"]
    stuck_movement.refresh_from_db()
    assert stuck_movement.status == "stuck"


def test_the_admin_retry_goes_through_the_backend_and_reports_an_outage(stuck_movement, settings, staff_user,
                                                                         client):
    from django.urls import reverse

    settings.MSPROC_TRANSFER_BACKEND = "unreachable"
    client.force_login(staff_user)
    response = client.post(reverse("admin:transfers_movement_changelist"),
                           {"action": "action_retry", "_selected_action": [stuck_movement.pk]}, follow=True)
    assert "connection refused" in response.content.decode()
    stuck_movement.refresh_from_db()
    assert stuck_movement.status == "stuck"
