"""Creating and planning campaigns from a spec; every spec error comes back with its field path."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaigns.models import Campaign
from sites.services import load_sites

SPEC_2X4 = Path(__file__).resolve().parents[2] / "planning" / "templates" / "2x4.yaml"


@pytest.fixture
def sites(db):
    load_sites()


@pytest.fixture
def staff_client(client_for):
    return client_for("staff")


def test_plan_returns_the_plan_and_saves_nothing(sites, operator_client):
    response = operator_client.post("/api/v1/campaigns/plan/", {"spec": SPEC_2X4.read_text()}, format="json")
    assert response.status_code == 200, response.content
    assert {m["kind"] for m in response.json()["movements"]} >= {"setup", "fan_in", "fan_out"}
    assert Campaign.objects.count() == 0


def test_plan_gives_400_with_every_error_and_its_field_path(sites, operator_client):
    spec = SPEC_2X4.read_text().replace("sites:", "sites_typo:", 1)
    response = operator_client.post("/api/v1/campaigns/plan/", {"spec": spec}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]
    assert all(set(error) == {"path", "message"} for error in response.json()["errors"])


def test_plan_without_a_spec_names_the_field(sites, operator_client):
    response = operator_client.post("/api/v1/campaigns/plan/", {}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "spec"


def test_staff_create_a_campaign_from_the_2x4_spec(sites, staff_client):
    response = staff_client.post("/api/v1/campaigns/", {"name": "2x4-api", "spec": SPEC_2X4.read_text()},
                                 format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "2x4-api" and body["status"] == "waiting" and body["owner"] == "api-staff"
    assert body["groups_total"] > 0 and body["steps_total"] > 0
    again = staff_client.post("/api/v1/campaigns/", {"name": "2x4-api", "spec": SPEC_2X4.read_text()},
                              format="json")
    assert again.status_code == 400
    assert again.json()["errors"][0]["path"] == "name"


def test_staff_create_a_campaign_from_a_template(sites, staff_client):
    template = staff_client.post("/api/v1/campaign-templates/", {"name": "2x4", "spec": SPEC_2X4.read_text()},
                                 format="json").json()
    response = staff_client.post("/api/v1/campaigns/", {"template": template["id"]}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["template"] == template["id"]


def test_create_needs_a_spec_or_a_template(sites, staff_client):
    response = staff_client.post("/api/v1/campaigns/", {"name": "x"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == [{"path": "", "message": "Give a spec or a template."}]


def test_an_error_rule_with_a_bad_pattern_is_refused(db, staff_client):
    response = staff_client.post("/api/v1/error-rules/", {"name": "bad", "pattern": "(", "action": "retry"},
                                 format="json")
    assert response.status_code == 400
    assert "pattern" in response.json()


def test_a_second_hub_is_refused(db, client_for):
    load_sites()
    body = {"code": "NEW", "name": "New", "facility": "UKDF", "compute_site": "NEW", "compute_cloud": "EU",
            "queue_prefix": "NEW", "raw_rse": "R", "butler_rse": "B", "is_hub": True}
    response = client_for("site admin").post("/api/v1/sites/", body, format="json")
    assert response.status_code == 400
    assert "is_hub" in response.json()
