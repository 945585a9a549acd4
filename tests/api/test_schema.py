"""The OpenAPI schema: generated without warnings, served, and honoured by the API (schemathesis)."""

from __future__ import annotations

from io import StringIO

import pytest
import schemathesis
from django.core import signals
from django.core.management import call_command
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from knox.models import AuthToken
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from msproc.wsgi import application

from .conftest import World


def test_the_schema_generates_without_warnings(db, tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"),
                 stdout=StringIO())
    text = (tmp_path / "schema.yaml").read_text()
    assert "/api/v1/groups/bulk/{verb}/" in text
    assert "/api/v1/campaigns/{id}/pause/" in text


def test_the_schema_and_swagger_ui_are_served(client):
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/api/schema/swagger-ui/").status_code == 200


# Loading the schema needs no database: the schema view reads only the URL configuration.
schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
# Fuzzing only (random valid and invalid inputs): the exhaustive coverage phase takes minutes over ~90 operations.
schema.config.phases.coverage.enabled = False


@pytest.fixture
def keep_test_connection():
    """Calls go through the real WSGI app: keep it from closing the test's transaction (as Django's Client does)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def staff_token(world: World, keep_test_connection) -> str:
    """A staff token; the world gives the generated calls objects to read and act on."""
    from .conftest import make_user

    return AuthToken.objects.create(user=make_user("staff"), expiry=None)[1]


@schema.parametrize()
@settings(max_examples=3, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_no_endpoint_gives_a_server_error_or_breaks_its_schema(case, staff_token):
    case.call_and_validate(
        headers={"Authorization": f"Token {staff_token}"},
        checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
    )
