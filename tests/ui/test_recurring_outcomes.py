"""A recurring run never fails unseen: each run leaves its outcome on the template and the Recurring page shows
the last one per schedule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from django.urls import reverse
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from campaigns.models import Campaign, CampaignTemplate
from campaigns.recurring import last_recurring_runs, start_recurring
from campaigns.tasks import run_recurring
from planning.spec import SpecError
from sites.services import load_sites

SPEC_2X2 = (Path(__file__).resolve().parents[2] / "planning" / "templates" / "2x2.yaml").read_text()


@pytest.fixture
def sites(db):
    load_sites()


def _schedule(template: CampaignTemplate, site: str) -> PeriodicTask:
    crontab = CrontabSchedule.objects.create(minute="0", hour="3", day_of_week="1", timezone="UTC")
    return PeriodicTask.objects.create(name=f"weekly {template} at {site}", task="campaigns.tasks.run_recurring",
                                       crontab=crontab, kwargs=json.dumps({"template_id": template.pk, "site": site}))


def test_a_run_that_no_longer_plans_is_recorded_as_failed_with_its_errors(sites):
    document = yaml.safe_load(SPEC_2X2)
    document["hub"] = "NOWHERE"  # a site taken out of service since the template was saved
    template = CampaignTemplate.objects.create(name="stale", version=1, spec=yaml.safe_dump(document))
    with pytest.raises(SpecError):
        run_recurring(template.pk)
    assert not Campaign.objects.exists()
    last = last_recurring_runs([(template.pk, None)])[(template.pk, None)]
    assert last.failed and "hub" in last.message and "NOWHERE" in last.message


def test_a_run_that_starts_is_recorded_with_its_campaign_per_site(sites):
    template = CampaignTemplate.objects.create(name="weekly", version=1, spec=SPEC_2X2)
    run = start_recurring(template.pk, "SLAC")
    runs = last_recurring_runs([(template.pk, "SLAC"), (template.pk, "IN2P3")])
    assert runs[(template.pk, "SLAC")].failed is False
    assert runs[(template.pk, "SLAC")].message == run.name
    assert (template.pk, "IN2P3") not in runs  # that schedule never ran


def test_the_recurring_page_shows_the_last_outcome_of_each_schedule(sites, viewer_client):
    good = CampaignTemplate.objects.create(name="good", version=1, spec=SPEC_2X2)
    # a pipeline withdrawn since the template was saved
    bad = CampaignTemplate.objects.create(name="bad", version=1,
                                          spec=SPEC_2X2.replace("pipeline: mock:drp", "pipeline: mock:gone"))
    _schedule(good, "SLAC"), _schedule(bad, "SLAC")
    run = start_recurring(good.pk, "SLAC")
    with pytest.raises(SpecError):
        start_recurring(bad.pk, "SLAC")
    html = viewer_client.get(reverse("campaigns:recurring")).content.decode()
    assert f'<span class="badge badge-success">started</span> {run.name}' in html
    assert '<span class="badge badge-danger">failed</span>' in html and "mock:gone" in html
