"""The API lists the backends' health, with whether each is failing now."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from sites.models import BackendHealth
from sites.services import report_backend_failure

pytestmark = pytest.mark.django_db


def test_the_api_lists_backend_health_with_whether_it_is_failing(viewer_client):
    report_backend_failure("transfer", "rucio", "poll", "Rucio: timed out")
    BackendHealth.objects.create(kind="execution", backend="panda", operation="poll", last_error="old", failures=3,
                                 first_failure_at=timezone.now() - timedelta(days=2),
                                 last_failure_at=timezone.now() - timedelta(days=1))

    rows = viewer_client.get("/api/v1/backend-health/").json()["results"]

    assert {(row["backend"], row["failing"]) for row in rows} == {("rucio", True), ("panda", False)}
