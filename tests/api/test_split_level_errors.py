"""A tract-level step split by visit comes back from the API as a spec error at its field path."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaigns.models import Campaign
from sites.services import load_sites

SPEC_2X4 = Path(__file__).resolve().parents[2] / "planning" / "templates" / "2x4.yaml"
STEP3 = "  - {name: step3, scope: wide, split: {by: tract, max_size: 1}, memory_mb: 16000}\n"
ERROR = {
    "path": "steps[5].split.by",
    "message": "step3 runs per tract; split by visit needs a visit-level step (use tract, values or query)",
}


@pytest.fixture
def sites(db):
    load_sites()


@pytest.fixture
def bad_spec() -> str:
    text = SPEC_2X4.read_text()
    assert STEP3 in text
    return text.replace(STEP3, STEP3.replace("{by: tract, max_size: 1}", "{by: visit, max_size: 100}"))


def test_plan_names_the_split_field_of_a_tract_step_split_by_visit(sites, operator_client, bad_spec):
    response = operator_client.post("/api/v1/campaigns/plan/", {"spec": bad_spec}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["errors"] == [ERROR]


def test_create_refuses_it_and_saves_nothing(sites, client_for, bad_spec):
    response = client_for("staff").post("/api/v1/campaigns/", {"name": "bad-split", "spec": bad_spec}, format="json")
    assert response.status_code == 400, response.content
    assert ERROR in response.json()["errors"]
    assert Campaign.objects.count() == 0
