"""The API refuses spec values the storage, Butler, BPS or the server cannot take: 400 naming the field, never 500.

Pipelines come only from the allowed sources, and a refused one reveals nothing about the file system.
"""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command

from campaigns.models import Campaign, CampaignTemplate
from sites.services import load_sites

SPEC_2X2 = Path(__file__).resolve().parents[2] / "planning" / "templates" / "2x2.yaml"


@pytest.fixture
def sites(db):
    load_sites()


@pytest.fixture
def staff_client(client_for):
    return client_for("staff")


def _spec(**changes) -> str:
    document = yaml.safe_load(SPEC_2X2.read_text())
    document.update(changes)
    return yaml.safe_dump(document)


def _paths(response) -> dict[str, str]:
    assert response.status_code == 400, response.content[:500]
    return {error["path"]: error["message"] for error in response.json()["errors"]}


@pytest.mark.parametrize("name", ["n" * 129, "n" * 200, "c03 x", "../up", "a\x00b"])
def test_create_refuses_a_name_the_campaign_table_or_external_names_cannot_hold(sites, staff_client, name):
    response = staff_client.post("/api/v1/campaigns/", {"name": name, "spec": SPEC_2X2.read_text()}, format="json")
    assert "name" in _paths(response)
    assert Campaign.objects.count() == 0


def test_create_refuses_a_200_character_name_in_the_spec_itself(sites, staff_client):
    response = staff_client.post("/api/v1/campaigns/", {"spec": _spec(name="s" * 200)}, format="json")
    assert _paths(response)["name"] == "must be at most 128 characters, got 200"


@pytest.mark.parametrize("share", [".nan", ".inf", "-1", "1e308"])
def test_plan_refuses_a_share_that_is_not_a_finite_fraction(sites, operator_client, share):
    text = SPEC_2X2.read_text().replace("sites: [SLAC, IN2P3]", f"sites: [{{code: SLAC, share: {share}}}, IN2P3]")
    text = text.replace("tract_map:\n  9469: SLAC\n  9948: IN2P3\n", "")
    response = operator_client.post("/api/v1/campaigns/plan/", {"spec": text}, format="json")
    assert "sites[0].share" in _paths(response)


def test_plan_refuses_a_tract_the_survey_does_not_have_at_its_path(sites, operator_client):
    text = SPEC_2X2.read_text().replace("9948: IN2P3", "9496: IN2P3")
    response = operator_client.post("/api/v1/campaigns/plan/", {"spec": text}, format="json")
    assert _paths(response) == {"tract_map.9496": "no such tract in the inventory"}


def test_plan_refuses_a_query_that_would_lose_its_restriction(sites, operator_client):
    document = yaml.safe_load(SPEC_2X2.read_text())
    document["steps"][1]["split"] = {"by": "query", "query": "band='g') OR (band='r'"}
    response = operator_client.post("/api/v1/campaigns/plan/", {"spec": yaml.safe_dump(document)}, format="json")
    assert list(_paths(response)) == ["steps[1].split.query"]


@pytest.mark.parametrize("body", [
    lambda: '{"spec": ' + "[" * 5000 + "]" * 5000 + "}",
    lambda: '{"spec": "x", "name": ' + '{"a": ' * 40 + "1" + "}" * 40 + "}",
])
def test_a_json_body_nested_thousands_deep_is_a_400_not_a_recursion_error(sites, operator_client, body):
    response = operator_client.post("/api/v1/campaigns/plan/", body(), content_type="application/json")
    assert response.status_code == 400
    assert "nested deeper than" in response.json()["detail"]


def test_a_spec_nested_5000_deep_is_a_400_with_a_message(sites, operator_client):
    response = operator_client.post("/api/v1/campaigns/plan/", {"spec": "a: " + "[" * 5000 + "]" * 5000},
                                    format="json")
    assert _paths(response) == {"": "the spec nests deeper than 20 levels"}


def test_a_spec_over_the_size_limit_is_a_400_before_it_is_parsed(sites, staff_client):
    response = staff_client.post("/api/v1/campaigns/", {"spec": "name: x\n#" + "x" * 1_000_001}, format="json")
    assert "spec" in _paths(response)
    response = staff_client.post("/api/v1/campaign-templates/", {"name": "big", "spec": "#" + "x" * 1_000_001},
                                 format="json")
    assert response.status_code == 400 and "spec" in response.json()


def test_a_template_is_checked_as_a_spec_when_saved(db, staff_client):
    response = staff_client.post("/api/v1/campaign-templates/",
                                 {"name": "t", "spec": _spec(name="bad name", output_prefix="../x")}, format="json")
    assert response.status_code == 400
    messages = " ".join(response.json()["spec"])
    assert "name:" in messages and "output_prefix:" in messages
    assert not CampaignTemplate.objects.exists()


SERVER_FILES = ["/etc/shadow", "/proc/self/environ", "/etc/passwd", "/nonexistent/x.yaml", "../../../etc/passwd",
                "stack/pipelines/drp_mock.yaml", "file:///etc/passwd"]
URLS = ["http://127.0.0.1/x.yaml", "https://169.254.169.254/latest/meta-data", "s3://bucket/p.yaml",
        "resource://lsst.ctrl.bps/etc/bps_defaults.yaml"]


@pytest.mark.parametrize("pipeline", SERVER_FILES + URLS)
def test_a_pipeline_outside_the_allowed_sources_is_refused_revealing_nothing(sites, operator_client, pipeline):
    response = operator_client.post("/api/v1/campaigns/plan/", {"spec": _spec(pipeline=pipeline)}, format="json")
    message = _paths(response)["pipeline"]
    # The same message whatever the path: nothing says whether it exists, what it holds or where it breaks.
    assert message == "must be mock:drp, mock:lsstcam-drp"


def test_pipelines_come_from_the_configured_directory_and_uri_prefixes(sites, operator_client, settings, tmp_path):
    from planning.dataflow import MOCK_DRP_PIPELINE

    (tmp_path / "pipes" / "lsstcam").mkdir(parents=True)
    (tmp_path / "pipes" / "lsstcam" / "drp.yaml").write_text(MOCK_DRP_PIPELINE.read_text())
    (tmp_path / "secret.yaml").write_text("not: a pipeline\n")
    (tmp_path / "pipes" / "escape.yaml").symlink_to(tmp_path / "secret.yaml")
    settings.MSPROC_PIPELINES_DIR = str(tmp_path / "pipes")
    settings.MSPROC_PIPELINE_URI_PREFIXES = ["s3://pipelines"]

    accepted = operator_client.post("/api/v1/campaigns/plan/", {"spec": _spec(pipeline="lsstcam/drp.yaml#step1")},
                                    format="json")
    assert accepted.status_code == 200, accepted.content[:300]
    for pipeline in ("escape.yaml", "../secret.yaml", "lsstcam/../../secret.yaml", str(tmp_path / "secret.yaml"),
                     "s3://pipelines/../other/x.yaml", "s3://pipelinesX/x.yaml", "s3://other/x.yaml"):
        message = _paths(operator_client.post("/api/v1/campaigns/plan/", {"spec": _spec(pipeline=pipeline)},
                                              format="json"))["pipeline"]
        assert str(tmp_path) not in message and "not: a pipeline" not in message, message
    missing = _paths(operator_client.post("/api/v1/campaigns/plan/", {"spec": _spec(pipeline="nope.yaml")},
                                          format="json"))["pipeline"]
    assert missing == "no pipeline 'nope.yaml' in the pipelines directory"


def test_the_schema_documents_the_spec_refusals(db, tmp_path):
    call_command("spectacular", "--file", str(tmp_path / "schema.json"), "--format", "openapi-json",
                 stdout=StringIO())
    schema = json.loads((tmp_path / "schema.json").read_text())
    for path in ("/api/v1/campaigns/", "/api/v1/campaigns/plan/"):
        bad_request = schema["paths"][path]["post"]["responses"]["400"]
        assert "nested deeper than 20 levels" in bad_request["description"]
        assert "tract_map.9496" in bad_request["description"]


def test_a_template_edited_in_any_model_form_is_checked_as_a_spec(db):
    from django.core.exceptions import ValidationError

    template = CampaignTemplate(name="t", version=1, spec=_spec(name="x" * 300, tract_map={"a": "SLAC"}))
    with pytest.raises(ValidationError) as excinfo:
        template.full_clean()
    messages = excinfo.value.message_dict["spec"]
    assert any(m.startswith("name: must be at most 128") for m in messages)
    assert any(m.startswith("tract_map.a: must be an integer") for m in messages)
    CampaignTemplate(name="ok", version=1, spec=SPEC_2X2.read_text()).full_clean()
