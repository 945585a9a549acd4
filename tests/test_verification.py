"""Verification counts every expected piece by all its data-ID keys, and finds every archived output on tape
whichever site made it (issue 14), here against stand-in repositories.

The repositories answer as a Butler does (refs with a run, a data ID and a dataset type); the campaign, its jobs
and its movements are real rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from campaigns.verification import _check_products, unarchived
from tests.factories import CampaignFactory, DatasetTypeFactory, GroupFactory, JobFactory, MovementFactory, SiteFactory

pytestmark = pytest.mark.django_db

RUN = "u/msproc/healpix/step2c/group1/attempt1"


class DataId(dict):
    @property
    def required(self) -> dict:
        return self


@dataclass
class Ref:
    run: str
    dataId: DataId
    datasetType: object = field(default=None)


class DatasetTypeStub:
    def __init__(self, dimensions):
        self.dimensions = type("Dims", (), {"names": set(dimensions)})()


class Repos:
    """Two sites' repositories: what each holds of each dataset type, as refs."""

    def __init__(self, held: dict[tuple[str, str], list[Ref]]) -> None:
        self.held = held
        self.roots = {"HUB": "/hub", "IN2P3": "/in2p3"}

    def query(self, site, dataset_type, collections, where=""):
        refs = self.held.get((site, dataset_type), [])
        if "healpix3 IN" in where:
            wanted = {int(v) for v in where.split("healpix3 IN (")[1].split(")")[0].split(",")}
            refs = [ref for ref in refs if ref.dataId["healpix3"] in wanted]
        return refs


def fit(pixel: int) -> Ref:
    return Ref(RUN, DataId(instrument="MockCam", healpix3=pixel), DatasetTypeStub(["instrument", "healpix3"]))


@pytest.fixture
def healpix_campaign():
    hub, in2p3 = SiteFactory(code="HUB", is_hub=True), SiteFactory(code="IN2P3")
    campaign = CampaignFactory(name="healpix", hub=hub, plan={
        "instrument": "MockCam", "skymap": "mock_skymap", "sites": [{"code": "HUB"}, {"code": "IN2P3"}],
        "steps": [{"name": "step2c-recalibrate-healpix", "outputs": ["gbdes_fit"]}]})
    group = GroupFactory(step__stage__campaign=campaign, step__name="step2c-recalibrate-healpix", site=in2p3)
    JobFactory(group=group, run_collection=RUN)
    movement = MovementFactory(campaign=campaign, kind="exchange", destination=hub, status="done",
                               data_ids={"healpix3": [1, 2]}, expected_count=2)
    movement.sources.set([in2p3])
    movement.dataset_types.set([DatasetTypeFactory(name="gbdes_fit", dimensions=["instrument", "healpix3"])])
    return campaign, [movement]


def test_it_reports_a_missing_healpix_piece(healpix_campaign):
    campaign, done = healpix_campaign
    repos = Repos({("IN2P3", "gbdes_fit"): [fit(1), fit(2)], ("HUB", "gbdes_fit"): [fit(1)]})
    problems = _check_products(campaign, repos, done)
    assert problems == ["HUB: gbdes_fit from IN2P3: missing [2], unexpected []"]


def test_it_reports_a_healpix_piece_no_movement_carried(healpix_campaign):
    campaign, done = healpix_campaign
    repos = Repos({("IN2P3", "gbdes_fit"): [fit(1), fit(2), fit(3)], ("HUB", "gbdes_fit"): [fit(1), fit(2), fit(3)]})
    problems = _check_products(campaign, repos, done)
    assert problems == ["HUB: gbdes_fit from IN2P3: missing [], unexpected [3]"]


def test_every_healpix_piece_there_verifies_clean(healpix_campaign):
    campaign, done = healpix_campaign
    repos = Repos({("IN2P3", "gbdes_fit"): [fit(1), fit(2)], ("HUB", "gbdes_fit"): [fit(1), fit(2)]})
    assert _check_products(campaign, repos, done) == []


def metrics(visit: int) -> Ref:
    return Ref(f"u/msproc/archived/step6/visit{visit}", DataId(instrument="MockCam", visit=visit),
               DatasetTypeStub(["instrument", "visit"]))


@pytest.fixture
def archive():
    hub = SiteFactory(code="HUB", is_hub=True)
    campaign = CampaignFactory(name="archived", hub=hub)
    movement = MovementFactory(campaign=campaign, kind="archive", destination=hub, status="done")
    movement.dataset_types.set([DatasetTypeFactory(name="metrics", dimensions=["instrument", "visit"])])
    return campaign, [movement]


def test_it_reports_an_archived_output_made_at_the_hub_that_is_not_on_tape(archive):
    """Visit 2's metrics were made at the hub (no return zipped them): a tape holding only visit 1's is short."""
    campaign, movements = archive
    repos = Repos({("HUB", "metrics"): [metrics(1), metrics(2)]})
    on_tape = {"id-1": ("metrics", {"instrument": "MockCam", "visit": 1, "band": "g"})}  # with implied values
    assert unarchived(campaign, repos, movements, on_tape) == [
        "archive: 1 metrics dataset(s) at HUB are not archived: [{'instrument': 'MockCam', 'visit': 2}]"]


def test_an_archive_holding_every_piece_at_the_hub_verifies_clean(archive):
    campaign, movements = archive
    repos = Repos({("HUB", "metrics"): [metrics(1), metrics(2)]})
    on_tape = {f"id-{v}": ("metrics", {"instrument": "MockCam", "visit": v, "band": "g", "day_obs": 20250601})
               for v in (1, 2)}
    assert unarchived(campaign, repos, movements, on_tape) == []
