"""No second write path around the verbs: the admin and the API refuse to change a status, the audit log or
what the planner owns; the verbs (the admin actions among them) still work."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group as RoleGroup
from django.test import RequestFactory
from django.urls import reverse
from knox.models import AuthToken
from rest_framework.test import APIClient

from core import roles
from core.models import Event
from tests import factories

pytestmark = pytest.mark.django_db

OUR_APPS = {"sites", "transfers", "campaigns", "core"}
# What the planner (or a verb) owns, by model: read-only in the admin whatever else is editable there.
PLANNER_OWNED = {
    "campaign": {"name", "spec", "plan", "hub", "output_prefix", "template", "fault_injection", "started_at",
                 "finished_at", "tick_error"},
    "stage": {"campaign", "name", "order"},
    "step": {"campaign", "stage", "name", "order", "scope", "level", "depends_on", "split", "inputs", "outputs"},
    "group": {"campaign", "step", "site", "ordinal", "data_query", "data_ids", "attempts", "auto_retries",
              "last_error", "error_rule"},
    "job": {"group", "attempt", "workflow_name", "run_collection", "external_ids", "backend"},
    "movement": {"campaign", "key", "kind", "sources", "destination", "dataset_types", "collections", "data_ids",
                 "before_step", "after_steps", "after_movements", "expected_count", "external_ids", "attempts"},
    "butlerrepo": {"last_error"},
}
PLANNED = ("campaign", "stage", "step", "group", "job", "movement")


def _admins():
    return {model._meta.model_name: model_admin for model, model_admin in admin.site._registry.items()
            if model._meta.app_label in OUR_APPS}


def _request(staff_user):
    request = RequestFactory().get("/admin/")
    request.user = staff_user
    return request


def test_every_status_field_is_read_only_in_the_admin(staff_user):
    request = _request(staff_user)
    stateful = 0
    for name, model_admin in _admins().items():
        fields = {field.name for field in model_admin.model._meta.fields}
        readonly = set(model_admin.get_readonly_fields(request, None))
        for state_field in {"status", "status_changed_at"} & fields:
            assert state_field in readonly, f"{name}.{state_field} is editable in the admin"
            stateful += 1
    assert stateful >= 2 * 7, "site, butler repo, campaign, step, group, job and movement at least"


@pytest.mark.parametrize("model_name", sorted(PLANNER_OWNED))
def test_planner_owned_fields_are_read_only_in_the_admin(staff_user, model_name):
    model_admin = _admins()[model_name]
    readonly = set(model_admin.get_readonly_fields(_request(staff_user), None))
    assert PLANNER_OWNED[model_name] <= readonly, PLANNER_OWNED[model_name] - readonly


@pytest.mark.parametrize("model_name", PLANNED)
def test_the_admin_neither_adds_nor_deletes_planned_rows(client, staff_user, model_name):
    factory = {"campaign": factories.CampaignFactory, "stage": factories.StageFactory,
               "step": factories.StepFactory, "group": factories.GroupFactory, "job": factories.JobFactory,
               "movement": factories.MovementFactory}[model_name]
    obj = factory(**({"status": "running"} if model_name == "campaign" else {}))
    app = obj._meta.app_label
    client.force_login(staff_user)
    assert client.get(reverse(f"admin:{app}_{model_name}_add")).status_code == 403
    assert client.post(reverse(f"admin:{app}_{model_name}_delete", args=[obj.pk]), {"post": "yes"}).status_code == 403
    response = client.post(reverse(f"admin:{app}_{model_name}_changelist"),
                           {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"})
    assert response.status_code in (200, 302)
    assert type(obj).objects.filter(pk=obj.pk).exists()


def test_a_finished_campaign_may_be_deleted_in_the_admin(client, staff_user):
    finished = factories.CampaignFactory(status="rejected")
    client.force_login(staff_user)
    response = client.post(reverse("admin:campaigns_campaign_delete", args=[finished.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not type(finished).objects.filter(pk=finished.pk).exists()


def test_posting_a_site_status_in_the_admin_changes_nothing_and_the_action_goes_through_the_verb(client,
                                                                                                  staff_user):
    site = factories.SiteFactory(code="LANCS")
    client.force_login(staff_user)
    url = reverse("admin:sites_site_change", args=[site.pk])
    form = {"code": site.code, "name": "Lancaster", "facility": site.facility, "compute_site": site.compute_site,
            "compute_cloud": site.compute_cloud, "queue_prefix": site.queue_prefix, "raw_rse": site.raw_rse,
            "butler_rse": site.butler_rse, "share": "0.25", "execution_backend": site.execution_backend,
            "transfer_backend": site.transfer_backend, "status": "offline",
            "queues-TOTAL_FORMS": "0", "queues-INITIAL_FORMS": "0"}
    response = client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    site.refresh_from_db()
    assert (site.name, site.status) == ("Lancaster", "online"), "configuration saved, status untouched"
    assert not Event.objects.filter(object_id=site.pk, verb__in=["take_offline", "drain"]).exists()
    client.post(reverse("admin:sites_site_changelist"), {"action": "action_take_offline",
                                                         "_selected_action": [site.pk]})
    site.refresh_from_db()
    assert site.status == "offline"
    assert Event.objects.filter(object_id=site.pk, verb="take_offline", actor=staff_user).exists()


def test_posting_a_groups_site_and_status_in_the_admin_changes_nothing(client, staff_user):
    group = factories.GroupFactory(status="failed")
    other = factories.SiteFactory(code="RAL")
    client.force_login(staff_user)
    client.post(reverse("admin:campaigns_group_change", args=[group.pk]),
                {"site": other.pk, "status": "accepted", "data_query": "instrument='X'", "ordinal": 99})
    group.refresh_from_db()
    assert (group.site_id, group.status, group.ordinal) != (other.pk, "accepted", 99)
    assert group.status == "failed" and group.site_id != other.pk and group.data_query == "instrument='MockCam'"


def test_the_event_log_is_append_only_in_the_admin(client, staff_user):
    group = factories.GroupFactory(status="failed")
    group.retry(actor=staff_user)
    event = Event.objects.get()
    client.force_login(staff_user)
    assert client.get(reverse("admin:core_event_add")).status_code == 403
    assert client.post(reverse("admin:core_event_add"), {"verb": "forged"}).status_code == 403
    assert client.post(reverse("admin:core_event_change", args=[event.pk]),
                       {"verb": "forged", "comment": "x"}).status_code == 403
    assert client.post(reverse("admin:core_event_delete", args=[event.pk]), {"post": "yes"}).status_code == 403
    client.post(reverse("admin:core_event_changelist"),
                {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"})
    assert list(Event.objects.values_list("pk", "verb")) == [(event.pk, "retry")]
    assert client.get(reverse("admin:core_event_change", args=[event.pk])).status_code == 200, "still readable"


def _api_client(role: str) -> APIClient:
    roles.ensure_roles()
    user = factories.UserFactory(username=f"writer-{role.replace(' ', '-')}")
    user.groups.add(RoleGroup.objects.get(name=role))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user=user, expiry=None)[1]}")
    return client


def test_the_api_refuses_a_site_or_repository_status_change_naming_the_field():
    site = factories.SiteFactory(code="LANCS")
    repo = factories.ButlerRepoFactory(site=site)
    client = _api_client(roles.STAFF)
    response = client.patch(f"/api/v1/sites/{site.pk}/", {"status": "offline", "name": "x"}, format="json")
    assert response.status_code == 400
    assert "drain" in response.json()["status"][0]
    response = client.patch(f"/api/v1/butler-repos/{repo.pk}/", {"status": "ready", "last_error": ""},
                            format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"status"}, "last_error given unchanged is accepted"
    new = {"code": "NEW", "name": "New", "facility": "USDF", "compute_site": "NEW", "compute_cloud": "US",
           "queue_prefix": "NEW", "raw_rse": "NEW_RAW", "butler_rse": "NEW_BUTLER", "share": "0.1"}
    created = client.post("/api/v1/sites/", {**new, "status": "offline"}, format="json")
    assert created.status_code == 400 and "status" in created.json()
    site.refresh_from_db()
    repo.refresh_from_db()
    assert (site.status, site.name, repo.status) == ("online", "Site LANCS", "absent")
    # What a GET returned may be sent back: unchanged read-only values are accepted.
    body = client.get(f"/api/v1/sites/{site.pk}/").json()
    assert client.put(f"/api/v1/sites/{site.pk}/", {**body, "name": "Lancaster"}, format="json").status_code == 200
    # The verbs still change it.
    assert client.post(f"/api/v1/sites/{site.pk}/drain/").status_code == 202


@pytest.mark.parametrize("path", ["events", "campaigns", "steps", "groups", "jobs", "movements", "stages"])
def test_the_api_offers_no_write_to_the_event_log_or_to_planned_rows(path):
    group = factories.GroupFactory(status="failed")
    group.retry()
    ids = {"events": Event.objects.get().pk, "campaigns": group.campaign_id, "steps": group.step_id,
           "groups": group.pk, "jobs": factories.JobFactory(group=group).pk,
           "movements": factories.MovementFactory(campaign=group.campaign).pk, "stages": group.step.stage_id}
    client = _api_client(roles.STAFF)
    detail = f"/api/v1/{path}/{ids[path]}/"
    for method in ("put", "patch", "delete"):
        assert getattr(client, method)(detail, {"status": "accepted", "site": "RAL"}, format="json").status_code \
            == 405, (method, detail)
    if path != "campaigns":  # campaigns are created from a spec (validated, planned)
        assert client.post(f"/api/v1/{path}/", {"verb": "forged"}, format="json").status_code == 405
    assert Event.objects.filter(verb="forged").count() == 0
    group.refresh_from_db()
    assert group.status == "ready"
