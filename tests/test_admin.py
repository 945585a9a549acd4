"""Every model's admin pages load for staff."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils.html import escape

from tests import factories

INSTANCES = {
    "site": factories.SiteFactory,
    "butlerrepo": factories.ButlerRepoFactory,
    "pandaqueue": factories.PandaQueueFactory,
    "datasettype": factories.DatasetTypeFactory,
    "replica": factories.ReplicaFactory,
    "movement": factories.MovementFactory,
    "campaigntemplate": factories.CampaignTemplateFactory,
    "campaign": factories.CampaignFactory,
    "stage": factories.StageFactory,
    "step": factories.StepFactory,
    "group": factories.GroupFactory,
    "job": factories.JobFactory,
    "errorrule": factories.ErrorRuleFactory,
    "backendhealth": factories.BackendHealthFactory,
    "heartbeat": factories.HeartbeatFactory,
    "stallthreshold": factories.StallThresholdFactory,
}
OUR_APPS = {"sites", "transfers", "campaigns"}
MODELS = sorted(
    (model._meta.app_label, model._meta.model_name)
    for model in admin.site._registry
    if model._meta.app_label in OUR_APPS
)


def test_every_model_of_ours_is_registered():
    from django.apps import apps

    ours = {(m._meta.app_label, m._meta.model_name) for m in apps.get_models() if m._meta.app_label in OUR_APPS}
    assert ours == set(MODELS)


@pytest.mark.django_db
@pytest.mark.parametrize(("app_label", "model_name"), MODELS)
def test_admin_pages_load(client, staff_user, app_label, model_name):
    client.force_login(staff_user)
    if model_name == "event":
        group = factories.GroupFactory(status="failed")
        group.retry(actor=staff_user)
        obj = factories.Event.objects.get()
    else:
        obj = INSTANCES[model_name]()
    changelist = client.get(reverse(f"admin:{app_label}_{model_name}_changelist"))
    assert changelist.status_code == 200
    shown = {"event": lambda o: o.object_repr, "replica": lambda o: o.collection,
             "backendhealth": lambda o: o.backend, "stallthreshold": lambda o: o.status}.get(model_name, str)(obj)
    assert escape(shown) in changelist.content.decode()
    change = client.get(reverse(f"admin:{app_label}_{model_name}_change", args=[obj.pk]))
    assert change.status_code == 200
    add = client.get(reverse(f"admin:{app_label}_{model_name}_add"))
    assert add.status_code in {200, 403}


@pytest.mark.django_db
def test_admin_action_reports_refused_moves(client, staff_user):
    client.force_login(staff_user)
    failed = factories.GroupFactory(status="failed")
    running = factories.GroupFactory(status="running", step=failed.step)
    response = client.post(
        reverse("admin:campaigns_group_changelist"),
        {"action": "action_retry", "_selected_action": [failed.pk, running.pk]},
        follow=True,
    )
    failed.refresh_from_db()
    running.refresh_from_db()
    assert failed.status == "ready"
    assert running.status == "running"
    text = response.content.decode()
    assert "Retry: 1 done." in text
    assert "it is running" in text
