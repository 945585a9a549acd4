"""Planning a spec into a campaign: the persisted plan equals the printed one; bad specs save nothing."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from campaigns.models import Campaign, Group, Stage, Step
from campaigns.services import create_campaign_from_spec, persisted_plan, plan_spec
from planning.spec import SpecError
from sites.services import load_sites
from transfers.models import Movement

TEMPLATES = Path(__file__).resolve().parent.parent / "planning" / "templates"


@pytest.fixture
def sites(db):
    load_sites()


@pytest.fixture(scope="module")
def spec_2x4() -> str:
    return (TEMPLATES / "2x4.yaml").read_text()


def test_the_persisted_plan_equals_the_printed_one(sites, spec_2x4):
    out = StringIO()
    call_command("plan_campaign", str(TEMPLATES / "2x4.yaml"), "--json", stdout=out)
    printed = json.loads(out.getvalue())
    campaign = create_campaign_from_spec(None, spec_2x4)
    assert campaign.plan == printed
    rows = persisted_plan(campaign)
    assert rows["groups"] == {
        step["name"]: [(g["ordinal"], g["site"], g["data_query"]) for g in step["groups"]] for step in printed["steps"]
    }
    assert rows["movements"] == {
        m["key"]: {
            "kind": m["kind"], "sources": sorted(m["sources"]), "destination": m["destination"],
            "dataset_types": sorted(m["dataset_types"]), "data_ids": m["data_ids"], "before_step": m["before_step"],
            "after_steps": sorted(m["after_steps"]),
        }
        for m in printed["movements"]
    }
    assert Step.objects.get(campaign=campaign, name="step2c").groups.get().site.code == "SLAC"
    assert set(Step.objects.get(campaign=campaign, name="step2d").depends_on.values_list("name", flat=True)) == set(
        next(s["depends_on"] for s in printed["steps"] if s["name"] == "step2d")
    )


def test_plan_spec_saves_nothing(sites, spec_2x4):
    plan = plan_spec(spec_2x4)
    assert {m["kind"] for m in plan["movements"]} >= {"setup", "fan_in", "fan_out", "return", "archive"}
    assert Campaign.objects.count() == 0


def test_a_bad_spec_leaves_nothing_and_names_the_fields(sites, spec_2x4):
    bad = spec_2x4.replace("hub: SLAC", "hub: NOWHERE").replace("memory_mb: 4000", "memory_mb: -1", 1)
    with pytest.raises(SpecError) as excinfo:
        create_campaign_from_spec(None, bad)
    paths = {error.path for error in excinfo.value.errors}
    assert "hub" in paths
    assert any(path.endswith(".memory_mb") for path in paths)
    assert (Campaign.objects.count(), Stage.objects.count(), Group.objects.count(), Movement.objects.count()) == (
        0, 0, 0, 0)


def test_a_campaign_name_is_unique(sites, spec_2x4):
    create_campaign_from_spec("weekly", spec_2x4)
    with pytest.raises(SpecError, match="name: a campaign called 'weekly' exists already"):
        create_campaign_from_spec("weekly", spec_2x4)
    assert Campaign.objects.count() == 1


def test_plan_campaign_command_reports_every_error(sites, tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("name: x\nhub: SLAC\nsteps: 3\n")
    err = StringIO()
    with pytest.raises(CommandError, match="error"):
        call_command("plan_campaign", str(spec), stderr=err)
    assert "steps:" in err.getvalue()


@pytest.mark.django_db
def test_load_templates_adds_a_new_version_when_the_shipped_text_changed():
    from campaigns.models import CampaignTemplate
    from campaigns.services import load_templates

    CampaignTemplate.objects.create(name="2x2", version=1, spec="name: an-older-2x2\n", description="old")

    loaded = {template.name: template for template in load_templates()}

    shipped = Path(__file__).resolve().parents[1] / "planning" / "templates" / "2x2.yaml"
    assert loaded["2x2"].version == 2 and loaded["2x2"].spec == shipped.read_text()
    assert CampaignTemplate.objects.get(name="2x2", version=1).spec == "name: an-older-2x2\n"  # kept as it was
    assert loaded["2x4"].version == 1
    again = {template.name: template.pk for template in load_templates()}
    assert again == {name: template.pk for name, template in loaded.items()}  # idempotent
    assert CampaignTemplate.objects.count() == len(loaded) + 1


def test_plan_campaign_explain_prints_per_site_runs_receives_and_sends(sites):
    out = StringIO()
    call_command("plan_campaign", str(TEMPLATES / "2x2.yaml"), "--explain", stdout=out)
    text = out.getvalue()
    assert "== SLAC (hub)" in text and "== IN2P3" in text
    in2p3 = text[text.index("== IN2P3"):]
    assert "runs " in in2p3 and "receives " in in2p3 and "sends " in in2p3
    assert "[setup] from SLAC: raw" in in2p3 and "piece(s) expected" in in2p3


def test_the_cyclic_garbage_collector_is_paused_while_persisting_and_restored(sites, spec_2x4, monkeypatch):
    import gc

    from campaigns import services

    seen = []
    real = services.persist_plan_rows
    monkeypatch.setattr(services, "persist_plan_rows", lambda *args: seen.append(gc.isenabled()) or real(*args))
    assert gc.isenabled()
    create_campaign_from_spec("paused-gc", spec_2x4)
    assert seen == [False] and gc.isenabled()
    with pytest.raises(SpecError):
        create_campaign_from_spec("paused-gc", spec_2x4)  # the name is taken
    assert gc.isenabled() and len(seen) == 1
