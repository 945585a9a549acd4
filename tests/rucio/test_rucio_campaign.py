"""The 2x2 campaign end to end with every movement carried by Rucio: a real Celery worker runs the groups
(pipetask) and moves the data through the local Rucio server, whose conveyor daemons copy the files; every
site then holds exactly what the plan says, and the returned zips are on the hub's tape RSE."""

from __future__ import annotations

import json

import pytest

from campaigns.models import Campaign, Group
from campaigns.services import create_campaign_from_spec
from campaigns.verification import verify_campaign
from sites.models import Site
from sites.services import load_sites, setup_local_sites
from tests.e2e.test_embedded_campaign import SPEC, TIMEOUT, Worker, _purge_broker, _wait
from tests.rucio.server import ROOT_PASSWORD, ROOT_USERNAME
from transfers.backends.rucio.registration import ensure_scope
from transfers.models import Movement

from .conftest import PASSWORD_ENV

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Names of their own, apart from the other Rucio tests' (same server): the repo name is the DID scope.
REPO, DISK, TAPE = "e2e", "E2E_{site}_DISK", "E2E_{site}_TAPE"


def test_a_two_site_campaign_moves_everything_through_rucio(rucio_server, tmp_path, settings):
    settings.DATA_DIR = tmp_path
    settings.MSPROC_SITES_DIR = tmp_path / "sites"
    settings.MSPROC_TAPE_DIR = tmp_path / "tape"
    settings.MSPROC_REPO_NAME = REPO
    settings.MSPROC_EXECUTION_BACKEND = None
    settings.MSPROC_TRANSFER_BACKEND = "rucio"
    load_sites()
    assert set(setup_local_sites().values()) == {"created"}
    ensure_scope(rucio_server.client(), REPO, "root")
    rses = []
    for site in Site.objects.all():
        rses.append(DISK.format(site=site.code))
        rucio_server.add_site_rse(rses[-1], settings.MSPROC_SITES_DIR / site.code)
    hub = Site.objects.get(is_hub=True).code
    rses.append(TAPE.format(site=hub))
    rucio_server.add_site_rse(rses[-1], tmp_path / "tape-rse", rse_type="TAPE")
    rucio_server.connect(rses)
    campaign = create_campaign_from_spec("rucio-2x2", SPEC)
    campaign.start()

    worker = Worker(tmp_path)
    worker.env.update({
        "MSPROC_REPO_NAME": REPO, "MSPROC_TRANSFER_BACKEND": "rucio", "MSPROC_RUCIO_HOST": rucio_server.host,
        "MSPROC_RUCIO_ACCOUNT": "root", "MSPROC_RUCIO_AUTH_TYPE": "userpass", "MSPROC_RUCIO_USERNAME": ROOT_USERNAME,
        "MSPROC_RUCIO_PASSWORD_ENV": PASSWORD_ENV, PASSWORD_ENV: ROOT_PASSWORD, "MSPROC_RUCIO_SCOPE": REPO,
        "MSPROC_RUCIO_RSE": DISK, "MSPROC_RUCIO_TAPE_RSE": TAPE,
    })
    _purge_broker(worker.env["CELERY_BROKER_URL"])
    worker.start()
    try:
        _wait(lambda: Campaign.objects.get(pk=campaign.pk).status != "running", TIMEOUT, "the campaign to finish")
    finally:
        worker.stop()

    campaign.refresh_from_db()
    log_tail = (tmp_path / "worker.log").read_text()[-3000:]
    assert campaign.status == "accepted", log_tail
    assert set(Group.objects.filter(campaign=campaign).values_list("status", flat=True)) == {"accepted"}
    movements = list(Movement.objects.filter(campaign=campaign))
    assert {m.status for m in movements} == {"done"}
    # Every kind of the plan went through Rucio: each movement has its dataset and its one rule.
    assert {m.kind for m in movements} >= {"setup", "fan_in", "fan_out", "return", "archive"}
    assert all(m.external_ids.get("rule_id") and m.external_ids["dataset"].startswith("msproc.") for m in movements)
    client = rucio_server.client()
    assert {str(client.get_replication_rule(m.external_ids["rule_id"])["state"]).split(".")[-1] for m in movements} \
        == {"OK"}

    # Each site holds exactly what the plan moved there plus what it produced; the returns are on tape.
    assert verify_campaign(campaign) == []
    archive = next(m for m in movements if m.kind == "archive")
    assert archive.external_ids["rse"] == TAPE.format(site=hub)
    from transfers.services import movement_dir

    manifest = json.loads((movement_dir(archive) / "ARCHIVE-MANIFEST.json").read_text())
    assert any(entry["name"].endswith(".zip") for entry in manifest["files"])
    assert all(entry["checked"] for entry in manifest["files"])
