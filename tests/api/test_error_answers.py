"""What a client that typed something wrong gets back: JSON, the parameter it typed, no silent defaults."""

from __future__ import annotations

import pytest
from django.test import override_settings

from core import roles


@override_settings(DEBUG=False)
@pytest.mark.parametrize("path", ["/api/v1/groups/1/explode/", "/api/v1/campaigns/..%2F..%2Fetc/", "/api/v2/"])
def test_an_unknown_api_path_is_a_json_404_naming_it(viewer_client, path):
    response = viewer_client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"].startswith("No API endpoint or object at /api/")


@override_settings(DEBUG=False)
def test_an_unknown_page_outside_the_api_stays_an_html_404(viewer_client):
    response = viewer_client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(("query", "errors"), [
    ("created_after=notadate", {"created_after": ["Enter a valid date/time."]}),
    ("created_after=2026-01-01&created_before=2026-13-40", {"created_before": ["Enter a valid date/time."]}),
])
def test_a_bad_date_filter_is_reported_under_the_parameter_the_user_typed(world, viewer_client, query, errors):
    response = viewer_client.get(f"/api/v1/campaigns/?{query}")
    assert response.status_code == 400
    assert response.json() == errors


@pytest.mark.parametrize("body", [{"expiry": "forever"}, {"name": "laptop"}])
def test_a_token_request_with_fields_is_refused_rather_than_ignored(client_for, body):
    client = client_for(roles.VIEWER)
    before = client.get("/api/v1/tokens/").json()  # the token this client signs in with
    response = client.post("/api/v1/tokens/", body, format="json")
    assert response.status_code == 400
    assert set(response.json()) == set(body)
    assert "MSPROC_API_TOKEN_TTL_DAYS" in next(iter(response.json().values()))[0]
    assert client.get("/api/v1/tokens/").json() == before  # no token was made


def test_an_illegal_group_move_names_the_group_once_and_its_step_by_name(world, operator_client):
    world.group.status = "accepted"
    world.group.save(update_fields=["status"])
    response = operator_client.post(f"/api/v1/groups/{world.group.pk}/retry/", format="json")
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert "group group" not in detail
    assert f"cannot retry group {world.group.ordinal} of step " in detail


@pytest.mark.parametrize(("body", "field"), [
    ({"spec": 42}, "spec"), ({"spec": ["a"]}, "spec"), ({"spec": True}, "spec"),
])
def test_text_fields_refuse_numbers_and_lists_instead_of_turning_them_into_text(operator_client, world, body, field):
    response = operator_client.post("/api/v1/campaigns/plan/", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == [{"path": field, "message": "Not a valid string."}]


def test_a_model_text_field_refuses_a_number(client_for, world):
    response = client_for(roles.STAFF).post("/api/v1/error-rules/", {"name": 42, "pattern": "x", "action": "retry"},
                                            format="json")
    assert response.status_code == 400
    assert response.json()["name"] == ["Not a valid string."]


def test_a_too_long_campaign_name_gets_one_message(client_for, world):
    response = client_for(roles.STAFF).post("/api/v1/campaigns/", {"name": "n" * 500, "spec": "name: x"},
                                            format="json")
    assert response.status_code == 400
    name_errors = [error["message"] for error in response.json()["errors"] if error["path"] == "name"]
    assert name_errors == ["must be at most 128 characters, got 500"]


def test_a_site_is_found_by_its_code_as_well_as_its_id(world, viewer_client):
    by_code = viewer_client.get("/api/v1/sites/LANCS/")
    assert by_code.status_code == 200 and by_code.json()["id"] == world.site.pk
    assert viewer_client.get(f"/api/v1/sites/{world.site.pk}/").json()["code"] == "LANCS"
    assert viewer_client.get("/api/v1/sites/NOWHERE/").status_code == 404


def test_a_site_action_takes_the_code_too(world, client_for):
    response = client_for(roles.SITE_ADMIN).post("/api/v1/sites/LANCS/drain/")
    assert response.status_code == 202 and response.json()["status"] == "draining"


@pytest.mark.parametrize(("value", "shown"), [("", "''"), ("nonsense", "'nonsense'")])
def test_a_bad_choice_filter_quotes_the_value_and_lists_the_choices(world, viewer_client, value, shown):
    response = viewer_client.get(f"/api/v1/groups/?status={value}")
    assert response.status_code == 400
    message = response.json()["status"][0]
    assert message.startswith(f"{shown} is not one of: waiting, ready, ")
