"""The LSSTCam DRP mock through a real Celery worker: its single-visit stage and FGCM at two sites.

The lsstcam-2x2 spec cut to the steps the pinned LSST stack can execute (stage 1 and
step2a-recalibrate-global: the healpix3 fit of step2c cannot get a quantum graph with
daf_butler 30.2026.4300, see docs/benchmarks.md): every default the DRP reads is set up at
IN2P3, both sites run their groups with pipetask, the hub receives
preliminary_visit_summary and the isolated stars by their real names before the global
steps, and every repository holds exactly what the plan says.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from campaigns.models import Campaign
from campaigns.services import create_campaign_from_spec
from campaigns.verification import verify_campaign
from sites.services import load_sites, setup_local_sites
from transfers.models import Movement

from .test_embedded_campaign import Worker, _purge_broker, _wait

ROOT = Path(__file__).resolve().parents[2]
STEPS = (
    "step1a-single-visit-detectors",
    "step1b-single-visit-visits",
    "step1c-single-visit-tracts",
    "step1d-single-visit-global",
    "step2a-recalibrate-global",
)
TIMEOUT = 900

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _spec() -> str:
    document = yaml.safe_load((ROOT / "planning" / "templates" / "lsstcam-2x2.yaml").read_text())
    document["name"] = "lsstcam-2x2-stage1"
    document["output_prefix"] = "u/msproc/lsstcam-2x2-stage1"
    document["stages"] = [
        {"name": "stage1-single-visit", "steps": list(STEPS[:4])},
        {"name": "stage2-recalibrate", "steps": [STEPS[4]]},
    ]
    document["steps"] = [step for step in document["steps"] if step["name"] in STEPS]
    document["outputs"] = {"return": ["single_visit_star"], "archive": ["single_visit_star"]}
    return yaml.safe_dump(document)


@pytest.fixture
def data_dir(tmp_path, settings):
    settings.DATA_DIR = tmp_path
    settings.MSPROC_SITES_DIR = tmp_path / "sites"
    settings.MSPROC_TAPE_DIR = tmp_path / "tape"
    settings.MSPROC_EXECUTION_BACKEND = None
    settings.MSPROC_TRANSFER_BACKEND = None
    return tmp_path


def test_the_lsstcam_drp_single_visit_stage_and_fgcm_run_at_two_sites_through_a_celery_worker(data_dir):
    load_sites()
    setup_local_sites()
    campaign = create_campaign_from_spec("e2e-lsstcam-2x2", _spec())
    fan_in = {
        (m.before_step.name, tuple(sorted(m.dataset_types.values_list("name", flat=True))))
        for m in Movement.objects.filter(campaign=campaign, kind="fan_in").select_related("before_step")
    }
    assert fan_in == {
        ("step1d-single-visit-global", ("preliminary_visit_summary",)),
        ("step2a-recalibrate-global", ("isolated_star", "isolated_star_association")),
    }
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
    assert verify_campaign(campaign) == []
