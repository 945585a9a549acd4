"""Campaigns from one template, and runs of one recurring schedule, run side by side to ``accepted``.

Before their external names were unique by construction, the second campaign from a template wrote into the
first one's collections (``Output run '.../step1/group1/attempt1' already exists``) and stalled. Here two
campaigns from one template and two runs of its recurring schedule (the ``run_recurring`` task, executed by the
worker) share the hub's Butler repository with real ``pipetask`` runs through a real Celery worker. Kept small:
one site, one step, one group per campaign.
"""

from __future__ import annotations

import time

import pytest

from campaigns.models import Campaign, CampaignTemplate
from campaigns.services import create_campaign_from_spec
from campaigns.verification import verify_campaign
from sites.models import ButlerRepo
from sites.services import load_sites, setup_local_sites

from .test_embedded_campaign import Worker, _purge_broker, _tick

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SPEC = """\
name: side
pipeline: mock:drp
hub: SLAC
sites: [SLAC]
tract_map: {9469: SLAC}
inputs: {collections: [MockCam/raw/all, MockCam/defaults], dataset_types: [raw]}
defaults:
  - {dataset_types: [bias, flat, refcat, fgcm_lookup_table], collections: [MockCam/defaults]}
stages: [{name: stage1, steps: [step1]}]
steps: [{name: step1, split: {by: visit, max_size: 500}, memory_mb: 2000}]
"""
TIMEOUT = 600


@pytest.fixture
def data_dir(tmp_path, settings):
    settings.DATA_DIR = tmp_path
    settings.MSPROC_SITES_DIR = tmp_path / "sites"
    settings.MSPROC_TAPE_DIR = tmp_path / "tape"
    settings.MSPROC_EXECUTION_BACKEND = None
    settings.MSPROC_TRANSFER_BACKEND = None
    return tmp_path


def test_two_campaigns_from_one_template_and_two_recurring_runs_finish_side_by_side(data_dir):
    from msproc.celery import app

    load_sites()
    ButlerRepo.objects.exclude(site__code="SLAC").delete()  # one site is enough: only the hub runs
    assert setup_local_sites() == {"SLAC": "created"}
    template = CampaignTemplate.objects.create(name="side", version=1, spec=SPEC)
    from_template = [create_campaign_from_spec(name, template.spec, template=template) for name in ("side-a", "side-b")]
    for campaign in from_template:
        campaign.start()

    worker = Worker(data_dir)
    _purge_broker(worker.env["CELERY_BROKER_URL"])
    worker.start()
    try:
        for _ in range(2):  # what beat sends for the schedule, twice
            app.send_task("campaigns.tasks.run_recurring", kwargs={"template_id": template.pk})
        started = time.monotonic()
        while time.monotonic() < started + TIMEOUT:
            _tick()
            statuses = list(Campaign.objects.values_list("status", flat=True))
            if len(statuses) == 4 and all(status != "running" for status in statuses):
                break
            if len(statuses) < 4 and time.monotonic() > started + 120:
                break  # a recurring run was not created: no use waiting
            time.sleep(2)
    finally:
        worker.stop()

    log = (data_dir / "worker.log").read_text()
    log_tail = "\n".join(line for line in log.splitlines() if "ERROR" in line or "Error" in line)[-3000:]
    campaigns = list(Campaign.objects.order_by("pk"))
    assert len(campaigns) == 4, log_tail
    assert [c.status for c in campaigns] == ["accepted"] * 4, log_tail
    recurring = [c for c in campaigns if c.name.startswith("side-all-")]
    assert len(recurring) == 2 and all(c.template_id == template.pk for c in campaigns)
    prefixes = [c.output_prefix for c in campaigns]
    assert len(set(prefixes)) == 4 and all(p == f"u/msproc/{c.name}" for p, c in zip(prefixes, campaigns, strict=True))
    for campaign in campaigns:
        assert verify_campaign(campaign) == [], campaign.name
