"""The campaign builder bounds what it reads: an uploaded spec (multipart) or a pasted one over the limit, or one
nested too deeply, is refused with a message; nothing is planned or saved. The CLI does the same."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from campaigns import services
from campaigns.models import Campaign
from planning.spec import SPEC_MAX_BYTES
from sites.services import load_sites


@pytest.fixture
def no_planning(monkeypatch):
    """Planning must not even start for a refused spec."""
    def refuse(*args, **kwargs):
        raise AssertionError("a refused spec reached the planner")

    monkeypatch.setattr(services, "preview_campaign", refuse)
    monkeypatch.setattr(services, "create_campaign_from_spec", refuse)


@pytest.mark.parametrize("size", [SPEC_MAX_BYTES + 1, 5 * SPEC_MAX_BYTES])
def test_an_uploaded_spec_over_the_limit_is_dropped_as_it_arrives(operator_client, no_planning, size):
    upload = SimpleUploadedFile("big.yaml", b"#" * size, content_type="application/x-yaml")
    response = operator_client.post(reverse("campaigns:builder"), {"spec_file": upload, "action": "preview"})
    assert response.status_code == 200
    assert f"larger than {SPEC_MAX_BYTES:,} bytes" in response.content.decode()


def test_a_pasted_spec_over_the_limit_is_refused_with_a_message(staff_client, no_planning):
    response = staff_client.post(reverse("campaigns:builder"),
                                    {"spec": "#" * (SPEC_MAX_BYTES + 10), "action": "save"})
    assert response.status_code == 200
    assert "at most 1,000,000 are accepted" in response.content.decode()


@pytest.mark.parametrize("spec", ["a: " + "[" * 5000 + "]" * 5000, "{" * 3000])
def test_an_uploaded_spec_nested_5000_deep_is_an_error_not_a_500(operator_client, db, spec):
    load_sites()
    upload = SimpleUploadedFile("deep.yaml", spec.encode(), content_type="application/x-yaml")
    response = operator_client.post(reverse("campaigns:builder"), {"spec_file": upload, "action": "preview"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "nests deeper than 20 levels" in html or "invalid YAML" in html


@pytest.mark.parametrize("name", ["c03 x", "x" * 129, "../x"])
def test_the_builder_refuses_a_bad_campaign_name_beside_the_field(staff_client, no_planning, name):
    response = staff_client.post(reverse("campaigns:builder"), {"name": name, "spec": "name: x\n",
                                                                "action": "save"})
    assert response.status_code == 200
    assert response.context["form"].errors["name"]
    assert not Campaign.objects.exists()


def test_create_campaign_refuses_an_oversized_spec_file_before_reading_it(db, tmp_path):
    path = tmp_path / "big.yaml"
    path.write_bytes(b"#" * (SPEC_MAX_BYTES + 1))
    with pytest.raises(CommandError, match="a spec may have at most 1,000,000"):
        call_command("create_campaign", str(path))


def test_create_campaign_prints_each_refusal_with_its_path(db, tmp_path):
    load_sites()
    path = tmp_path / "deep.yaml"
    path.write_text("name: x\nsteps: " + "[" * 5000 + "]" * 5000 + "\n")
    err = StringIO()
    with pytest.raises(CommandError, match="1 error"):
        call_command("create_campaign", str(path), stderr=err)
    assert "nests deeper than 20 levels" in err.getvalue()
    bad_name = tmp_path / "name.yaml"
    bad_name.write_text((services.Path(services.__file__).parent.parent / "planning" / "templates"
                         / "2x2.yaml").read_text())
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("create_campaign", str(bad_name), "--name", "n" * 200, stderr=err)
    assert "name: must be at most 128 characters, got 200" in err.getvalue()


def test_the_planning_cli_refuses_an_oversized_spec(tmp_path, capsys):
    from planning.cli import main

    path = tmp_path / "big.yaml"
    path.write_bytes(b"#" * (SPEC_MAX_BYTES + 1))
    assert main([str(path), "--inventory", str(tmp_path / "none.csv")]) == 2
    assert "at most 1,000,000 are accepted" in capsys.readouterr().err


@pytest.mark.parametrize("pipeline", ["/etc/passwd", "http://127.0.0.1/x.yaml", "../../etc/shadow"])
def test_the_planning_cli_loads_pipelines_only_from_allowed_sources(tmp_path, capsys, monkeypatch, pipeline):
    from planning.cli import main

    monkeypatch.delenv("MSPROC_PIPELINES_DIR", raising=False)
    monkeypatch.delenv("MSPROC_PIPELINE_URI_PREFIXES", raising=False)
    path = tmp_path / "spec.yaml"
    text = (services.Path(services.__file__).parent.parent / "planning" / "templates"
            / "2x2.yaml").read_text()
    path.write_text(text.replace("pipeline: mock:drp", f"pipeline: {pipeline}"))
    assert main([str(path), "--inventory", str(tmp_path / "none.csv")]) == 2
    assert capsys.readouterr().err == "spec error: pipeline: must be mock:drp, mock:lsstcam-drp\n"


def test_pasted_text_beyond_djangos_upload_limit_is_answered_with_a_message(operator_client, no_planning, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100_000
    for body in ({"spec": "#" * 200_000, "action": "preview"},
                 {"spec": "#" * 200_000, "action": "preview", "spec_file": SimpleUploadedFile("a.yaml", b"a: 1")}):
        response = operator_client.post(reverse("campaigns:builder"), body)
        assert response.status_code == 400
        assert "The spec is too large" in response.content.decode()
