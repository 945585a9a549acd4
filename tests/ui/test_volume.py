"""Issue 17, item 4: the site × site matrix of data moved and a site's throughput history, in flat query counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests.factories import CampaignFactory, MovementFactory, SiteFactory
from transfers.volume import volume_matrix

pytestmark = pytest.mark.django_db


def moved(campaign, sources, destination, *, bytes_: int, datasets: int, seconds: int, status: str = "done"):
    end = timezone.now() - timedelta(minutes=1)
    movement = MovementFactory(campaign=campaign, destination=destination, status=status, bytes=bytes_,
                               ingested_count=datasets, started_at=end - timedelta(seconds=seconds),
                               finished_at=end if status == "done" else None)
    movement.sources.set(sources)
    return movement


def world(n: int):
    campaign = CampaignFactory()
    hub = campaign.hub
    a, b = SiteFactory(code="SITEA"), SiteFactory(code="SITEB")
    for _ in range(n):
        moved(campaign, [hub], a, bytes_=1000, datasets=2, seconds=10)
        moved(campaign, [a, b], hub, bytes_=500, datasets=1, seconds=5)  # a fan-in from two sites
    moved(campaign, [hub], b, bytes_=0, datasets=0, seconds=1, status="transferring")
    return campaign, hub, a, b


def test_the_matrix_counts_bytes_datasets_and_time_per_link():
    campaign, hub, a, b = world(3)
    matrix = volume_matrix()
    assert matrix.sites[0] == hub.code  # the hub first
    out = matrix.cells[(hub.code, "SITEA")]
    assert (out.bytes, out.datasets, out.done, out.movements, out.seconds) == (3000, 6, 3, 3, 30.0)
    assert out.rate == 100.0
    assert matrix.cells[("SITEA", hub.code)].bytes == 1500 and matrix.cells[("SITEB", hub.code)].bytes == 1500
    assert matrix.incoming[hub.code].bytes == 1500  # the fan-in counted once into the hub
    assert matrix.total.bytes == 4500 and matrix.total.movements == 7 and matrix.total.done == 6
    pending = matrix.cells[(hub.code, "SITEB")]
    assert (pending.bytes, pending.done, pending.movements) == (0, 0, 1)


def test_the_volume_page_shows_the_matrix_of_one_campaign_or_all(viewer_client):
    campaign, hub, *_ = world(2)
    other = CampaignFactory(hub=hub)
    moved(other, [hub], SiteFactory(code="SITEC"), bytes_=7 * 1024 ** 2, datasets=1, seconds=3)
    html = viewer_client.get(reverse("transfers:volume") + f"?campaign={campaign.pk}").content.decode()
    assert "2.0 KiB" in html and "SITEC" not in html and campaign.name in html
    everything = viewer_client.get(reverse("transfers:volume")).content.decode()
    assert "7.0 MiB" in everything and "SITEC" in everything
    assert f'href="{reverse("transfers:site-pair", args=[hub.code, "SITEA"])}"' in everything
    assert viewer_client.get(reverse("transfers:volume") + "?campaign=x").status_code == 404


def test_a_site_page_draws_its_throughput_over_time(viewer_client):
    _, hub, *_ = world(2)
    html = viewer_client.get(reverse("sites:site", args=[hub.code])).content.decode()
    assert "Data in and out over time" in html and "<polyline" in html and "Bytes moved per second" in html


@pytest.mark.parametrize("name", ["volume", "site"])
def test_the_volume_pages_cost_the_same_queries_for_few_or_many_movements(viewer_client, name):
    def url(hub):
        return reverse("transfers:volume") if name == "volume" else reverse("sites:site", args=[hub.code])

    _, hub, *_ = world(2)
    viewer_client.get(url(hub))
    with CaptureQueriesContext(connection) as few:
        viewer_client.get(url(hub))
    for _ in range(20):
        moved(CampaignFactory(hub=hub), [hub], SiteFactory(), bytes_=10, datasets=1, seconds=2)
    with CaptureQueriesContext(connection) as many:
        assert viewer_client.get(url(hub)).status_code == 200
    assert len(few) == len(many) == {"volume": 9, "site": 16}[name]
