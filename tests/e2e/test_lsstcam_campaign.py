"""The LSSTCam DRP mock through a real Celery worker: the whole lsstcam-2x2 campaign at two sites.

All 20 steps of mock:lsstcam-drp (step2b is empty for LSSTCam): every default the DRP reads is set up at
IN2P3, both sites run their groups with pipetask, the hub receives preliminary_visit_summary and the
isolated stars by their real names before the global steps, the healpix3 astrometric fit runs once per
pixel that holds data (its quanta from a data-ID table), the final outputs return to the hub and are
archived, and every repository holds exactly what the plan says.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from campaigns.models import Campaign
from campaigns.services import create_campaign_from_spec
from campaigns.verification import verify_campaign
from sites.services import load_sites, setup_local_sites
from transfers.models import Movement

from .test_embedded_campaign import Worker, _purge_broker, _wait

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 1500

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _spec() -> str:
    return (ROOT / "planning" / "templates" / "lsstcam-2x2.yaml").read_text()


@pytest.fixture
def data_dir(tmp_path, settings):
    settings.DATA_DIR = tmp_path
    settings.MSPROC_SITES_DIR = tmp_path / "sites"
    settings.MSPROC_TAPE_DIR = tmp_path / "tape"
    settings.MSPROC_EXECUTION_BACKEND = None
    settings.MSPROC_TRANSFER_BACKEND = None
    return tmp_path


def test_the_lsstcam_drp_runs_end_to_end_at_two_sites_through_a_celery_worker(data_dir):
    load_sites()
    setup_local_sites()
    campaign = create_campaign_from_spec("e2e-lsstcam-2x2", _spec())
    fan_in = {
        (m.before_step.name, tuple(sorted(m.dataset_types.values_list("name", flat=True))))
        for m in Movement.objects.filter(campaign=campaign, kind="fan_in").select_related("before_step")
    }
    assert {
        ("step1d-single-visit-global", ("preliminary_visit_summary",)),
        ("step2a-recalibrate-global", ("isolated_star", "isolated_star_association")),
    } <= fan_in
    campaign.start()

    worker = Worker(data_dir)
    _purge_broker(worker.env["CELERY_BROKER_URL"])
    worker.start()
    try:
        _wait(lambda: Campaign.objects.get(pk=campaign.pk).status != "running", TIMEOUT, "the campaign to finish")
    finally:
        worker.stop()

    campaign.refresh_from_db()
    log_tail = (data_dir / "worker.log").read_text()[-3000:]
    assert campaign.status == "accepted", log_tail
    assert set(Movement.objects.filter(campaign=campaign).values_list("status", flat=True)) == {"done"}
    assert set(campaign.groups.values_list("site__code", flat=True)) == {"SLAC", "IN2P3"}
    regional = campaign.groups.filter(step__name="step2c-recalibrate-healpix")
    assert regional.count() >= 1 and {group.status for group in regional} == {"accepted"}
    assert campaign.steps.exclude(status="accepted").count() == 0
    assert verify_campaign(campaign) == []
