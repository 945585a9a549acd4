"""Operator actions: hidden from and refused to viewers; done with a comment in the Event by operators."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from campaigns import services
from campaigns.models import Group
from core.models import Event
from planning.spec import FieldError, SpecError
from sites.models import Site
from tests.factories import CampaignTemplateFactory, GroupFactory, MovementFactory, SiteFactory

from .conftest import build_world

TEMPLATE_2X2 = Path(__file__).resolve().parents[2] / "planning" / "templates" / "2x2.yaml"

pytestmark = pytest.mark.django_db


def action_url(obj, verb: str) -> str:
    return reverse("action", args=[obj._meta.label_lower, obj.pk, verb])


def test_a_viewer_sees_no_action_buttons(viewer_client):
    campaign = build_world(4)
    group = Group.objects.filter(campaign=campaign, status="failed").first()
    for url in (reverse("campaigns:campaign", args=[campaign.pk]), reverse("campaigns:group", args=[group.pk]),
                reverse("sites:site", args=[campaign.hub.code]),
                reverse("campaigns:group-list") + "?status=failed"):
        html = viewer_client.get(url).content.decode()
        assert "/actions/" not in html and "/groups/bulk/" not in html, url
    assert "New campaign" not in viewer_client.get(reverse("home")).content.decode()


def test_an_operator_sees_the_buttons_the_state_allows(operator_client):
    campaign = build_world(4)
    group = Group.objects.filter(campaign=campaign, status="failed").first()
    html = operator_client.get(reverse("campaigns:group", args=[group.pk])).content.decode()
    assert action_url(group, "retry") in html and action_url(group, "pause") not in html
    assert action_url(campaign, "pause") in operator_client.get(
        reverse("campaigns:campaign", args=[campaign.pk])).content.decode()


@pytest.mark.parametrize("verb", ["retry", "rescue", "force_accept", "reject"])
def test_a_viewer_is_refused_a_group_action(viewer_client, verb):
    group = GroupFactory(status="failed")
    assert viewer_client.get(action_url(group, verb)).status_code == 403
    assert viewer_client.post(action_url(group, verb), {"comment": "try"}).status_code == 403
    group.refresh_from_db()
    assert group.status == "failed"


def test_anonymous_action_posts_go_to_log_in(client):
    group = GroupFactory(status="failed")
    response = client.post(action_url(group, "retry"), {"comment": "try"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_an_operator_retries_a_failed_group_with_a_comment_in_the_event(operator_client, operator):
    group = GroupFactory(status="failed")
    assert operator_client.get(action_url(group, "retry")).status_code == 200
    response = operator_client.post(action_url(group, "retry"), {"comment": "OOM fixed, retry"})
    assert response.status_code == 302
    group.refresh_from_db()
    assert group.status == "ready"
    event = Event.objects.filter(object_id=group.pk, verb="retry").get()
    assert (event.comment, event.actor, event.from_status, event.to_status) == (
        "OOM fixed, retry", operator, "failed", "ready")


def test_an_action_needs_a_comment(operator_client):
    group = GroupFactory(status="failed")
    response = operator_client.post(action_url(group, "retry"), {"comment": "  "})
    assert response.status_code == 200 and 'class="errorlist' in response.content.decode()
    group.refresh_from_db()
    assert group.status == "failed"


def test_an_illegal_action_is_reported_not_done(operator_client):
    group = GroupFactory(status="running")
    response = operator_client.post(action_url(group, "retry"), {"comment": "why not"}, follow=True)
    assert "cannot retry" in response.content.decode()
    group.refresh_from_db()
    assert group.status == "running"


def test_an_unknown_verb_is_not_found(operator_client):
    group = GroupFactory(status="failed")
    assert operator_client.post(action_url(group, "delete"), {"comment": "x"}).status_code == 404


def test_an_operator_pauses_and_resumes_a_campaign_and_a_step(operator_client):
    campaign = build_world(2)
    operator_client.post(action_url(campaign, "pause"), {"comment": "site trouble"})
    campaign.refresh_from_db()
    assert campaign.status == "paused"
    operator_client.post(action_url(campaign, "resume"), {"comment": "fixed"})
    campaign.refresh_from_db()
    assert campaign.status == "running"
    step = campaign.steps.get(name="step1")
    operator_client.post(action_url(step, "pause"), {"comment": "hold step1"})
    step.refresh_from_db()
    assert step.status == "paused"
    assert Event.objects.filter(object_id=step.pk, verb="pause", comment="hold step1").exists()


def test_an_operator_retries_and_cancels_movements(operator_client):
    failed = MovementFactory(status="failed")
    planned = MovementFactory(status="planned")
    operator_client.post(action_url(failed, "retry"), {"comment": "rule fixed"})
    operator_client.post(action_url(planned, "cancel"), {"comment": "not needed"})
    failed.refresh_from_db()
    planned.refresh_from_db()
    assert (failed.status, planned.status) == ("ready", "cancelled")


def test_site_actions_need_the_site_admin_role(operator_client, client, site_admin):
    site = SiteFactory(code="RAL")
    assert operator_client.post(action_url(site, "drain"), {"comment": "x"}).status_code == 403
    client.force_login(site_admin)
    html = client.get(reverse("sites:site", args=["RAL"])).content.decode()
    assert action_url(site, "drain") in html
    client.post(action_url(site, "take_offline"), {"comment": "power cut"})
    site.refresh_from_db()
    assert site.status == "offline"
    client.post(action_url(site, "bring_online"), {"comment": "back"})
    site.refresh_from_db()
    assert site.status == "online"
    assert Event.objects.filter(object_id=site.pk, verb="take_offline", comment="power cut").exists()


def test_bulk_retry_acts_on_every_group_the_filter_matches(operator_client, operator):
    campaign = build_world(8)
    failed = Group.objects.filter(campaign=campaign, status="failed")
    assert failed.count() == 2
    url = reverse("campaigns:group-bulk", args=["retry"]) + f"?campaign={campaign.pk}&status=failed"
    assert "Retry 2 groups" in operator_client.get(url).content.decode()
    response = operator_client.post(url, {"comment": "node fixed"})
    assert response.status_code == 302
    assert f"campaign={campaign.pk}" in response["Location"]
    assert not Group.objects.filter(campaign=campaign, status="failed").exists()
    assert Event.objects.filter(verb="bulk_retry", actor=operator, comment__contains="node fixed").exists()
    assert Event.objects.filter(verb="retry", comment="node fixed").count() == 2


def test_bulk_actions_refuse_viewers_and_need_a_filter(viewer_client, operator_client):
    url = reverse("campaigns:group-bulk", args=["retry"])
    assert viewer_client.post(url + "?status=failed", {"comment": "x"}).status_code == 403
    assert operator_client.post(url, {"comment": "x"}).status_code == 400


def test_recurring_campaigns_are_celery_beat_tasks(staff_client, operator_client, viewer_client):
    from sites.services import load_sites

    load_sites()
    template = CampaignTemplateFactory(name="2x4", spec=TEMPLATE_2X2.read_text())
    site = Site.objects.get(code="LANCS")
    url = reverse("campaigns:recurring")
    data = {"template": template.pk, "site": "LANCS", "day_of_week": "1", "hour": 6, "minute": 30}
    assert viewer_client.post(url, data).status_code == 403
    assert operator_client.post(url, data).status_code == 403, "each run creates a campaign: staff's"
    assert not PeriodicTask.objects.filter(task="campaigns.tasks.run_recurring").exists()
    assert staff_client.post(url, data).status_code == 302
    task = PeriodicTask.objects.get(task="campaigns.tasks.run_recurring")
    assert json.loads(task.kwargs) == {"template_id": template.pk, "site": site.code}
    assert (task.crontab.day_of_week, task.crontab.hour, task.crontab.minute) == ("1", "6", "30")
    html = viewer_client.get(url).content.decode()
    assert "LANCS" in html and "Monday 06:30 UTC" in html and "Delete" not in html
    delete = reverse("campaigns:recurring-delete", args=[task.pk])
    assert viewer_client.post(delete).status_code == 403
    assert operator_client.post(delete).status_code == 403
    assert "Delete" not in operator_client.get(url).content.decode()
    staff_client.post(delete)
    assert not PeriodicTask.objects.filter(pk=task.pk).exists()


def test_a_schedule_whose_runs_would_not_plan_is_refused(staff_client):
    from sites.services import load_sites

    load_sites()
    spec = TEMPLATE_2X2.read_text().replace("steps: [step1, step2a, step2b]}", "steps: [step1, step2a, step2b, nope]}")
    template = CampaignTemplateFactory(name="broken", spec=spec)
    data = {"template": template.pk, "site": "LANCS", "day_of_week": "1", "hour": 6, "minute": 30}
    response = staff_client.post(reverse("campaigns:recurring"), data)
    assert response.status_code == 200
    assert "would not plan" in " ".join(response.context["form"].errors["template"])
    assert not PeriodicTask.objects.exists()


PLAN = {
    "name": "mock-2x2", "hub": "SLAC", "output_prefix": "u/msproc/mock-2x2",
    "sites": [{"code": "SLAC", "share": 0.5, "tracts": [9469], "visits": []},
              {"code": "IN2P3", "share": 0.5, "tracts": [9948], "visits": []}],
    "stages": [], "movements": [
        {"key": "setup-IN2P3", "kind": "setup", "sources": ["SLAC"], "destination": "IN2P3",
         "dataset_types": ["raw"], "before_step": "step1", "expected_count": 12},
    ],
    "steps": [{"name": "step1", "groups": [{"site": "SLAC"}, {"site": "IN2P3"}, {"site": "IN2P3"}]},
              {"name": "step2c", "groups": [{"site": "SLAC"}]}],
}


def test_the_builder_previews_the_plan_per_site(operator_client, monkeypatch):
    monkeypatch.setattr(services, "preview_campaign", lambda name, spec_text: PLAN)
    template = CampaignTemplateFactory(name="2x2", spec="name: mock-2x2\n")
    assert "name: mock-2x2" in operator_client.get(
        reverse("campaigns:builder") + f"?template={template.pk}").content.decode()
    response = operator_client.post(reverse("campaigns:builder"), {"template": template.pk, "action": "preview"})
    assert response.status_code == 200
    by_site = {site["code"]: site for site in response.context["by_site"]}
    assert by_site["IN2P3"]["runs"] == [("step1", 2)]
    assert by_site["SLAC"]["runs"] == [("step1", 1), ("step2c", 1)]
    assert [m["key"] for m in by_site["IN2P3"]["receives"]] == ["setup-IN2P3"]
    assert "Receives 1 movement" in response.content.decode()


def test_the_builder_shows_spec_errors_with_their_path(operator_client, monkeypatch):
    def bad(name, spec_text):
        raise SpecError([FieldError("steps[1].memory_mb", "must be > 0"), FieldError("", "no tracts")])

    monkeypatch.setattr(services, "preview_campaign", bad)
    response = operator_client.post(reverse("campaigns:builder"), {"spec": "name: x\n", "action": "preview"})
    html = response.content.decode()
    assert "<code>steps[1].memory_mb</code>: must be &gt; 0" in html
    assert "2 problem(s)" in html


def test_the_builder_saves_the_campaign(staff_client, staff, monkeypatch):
    created = {}

    def create(name, spec_text, *, template=None, owner=None):
        created.update(name=name, spec=spec_text, owner=owner)
        return build_world(2)

    monkeypatch.setattr(services, "create_campaign_from_spec", create)
    assert "Save the campaign" in staff_client.get(reverse("campaigns:builder")).content.decode()
    response = staff_client.post(reverse("campaigns:builder"),
                                 {"name": "weekly", "spec": "name: x\n", "action": "save"})
    assert response.status_code == 302 and "/campaigns/" in response["Location"]
    assert created == {"name": "weekly", "spec": "name: x\n", "owner": staff}


def test_the_builder_refuses_to_save_for_an_operator_who_may_only_preview(operator_client, monkeypatch):
    """Creating a campaign is staff's, as in the API (POST campaigns/) and the admin (no add for anyone)."""
    def create(*args, **kwargs):
        raise AssertionError("an operator's save reached the service")

    monkeypatch.setattr(services, "create_campaign_from_spec", create)
    monkeypatch.setattr(services, "preview_campaign", lambda name, spec_text: PLAN)
    page = operator_client.get(reverse("campaigns:builder")).content.decode()
    assert "Preview the plan" in page and "Save the campaign" not in page
    response = operator_client.post(reverse("campaigns:builder"), {"name": "w", "spec": "name: x\n", "action": "save"})
    assert response.status_code == 403
    assert "needs the staff role" in response.content.decode()
    preview = operator_client.post(reverse("campaigns:builder"), {"spec": "name: x\n", "action": "preview"})
    assert preview.status_code == 200 and preview.context["by_site"]


def test_the_builder_refuses_viewers(viewer_client):
    assert viewer_client.get(reverse("campaigns:builder")).status_code == 403
    assert viewer_client.post(reverse("campaigns:builder"), {"spec": "x", "action": "save"}).status_code == 403


def test_sites_fixture_is_not_shared(db):
    assert not Site.objects.filter(code="RAL").exists()


def test_the_builders_preview_checks_the_name_as_saving_would(operator_client):
    """A preview that passes must not be followed by a save that fails on the name."""
    from sites.services import load_sites

    load_sites()
    spec = (Path(__file__).resolve().parents[2] / "planning" / "templates" / "2x2.yaml").read_text()
    services.create_campaign_from_spec("taken", spec)
    response = operator_client.post(reverse("campaigns:builder"), {"name": "TAKEN", "spec": spec,
                                                                    "action": "preview"})
    html = response.content.decode()
    assert "a campaign called &#x27;TAKEN&#x27; exists already" in html
    fine = operator_client.post(reverse("campaigns:builder"), {"name": "fresh", "spec": spec, "action": "preview"})
    assert fine.context["by_site"]
