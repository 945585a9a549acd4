"""Issue 17, item 2: charts whose time axis fits the campaign's span, with readable ticks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.charts import line_chart, time_ticks
from campaigns.summaries import Series, job_throughput
from tests.factories import CampaignFactory, GroupFactory, JobFactory

START = datetime(2026, 11, 29, 17, 2, 10, tzinfo=UTC)


def test_ticks_of_an_eight_minute_span_are_distinct_and_to_the_second():
    ticks = time_ticks(START, START + timedelta(minutes=8))
    labels = [label for _, label in ticks]
    assert len(labels) == len(set(labels)) >= 3
    assert labels[0] == "17:04:00" and all(label.count(":") == 2 for label in labels)


def test_ticks_of_a_three_day_span_carry_the_date():
    labels = [label for _, label in time_ticks(START, START + timedelta(days=3))]
    assert labels[0].startswith("11-30") and len(labels) <= 7


def test_the_time_axis_ends_at_the_campaign_end_not_the_next_hour():
    points = [(START + timedelta(minutes=m), float(m)) for m in (1, 3, 8)]
    chart = line_chart([Series("done", points)], x_range=(START, START + timedelta(minutes=8)))
    assert (chart.x_start, chart.x_end) == (START, START + timedelta(minutes=8))
    assert chart.ticks and all(chart.left <= x <= chart.plot_right for x, _ in chart.ticks)


@pytest.mark.django_db
def test_the_campaign_page_buckets_throughput_by_the_campaign_span(viewer_client):
    now = timezone.now()
    campaign = CampaignFactory(status="accepted", started_at=now - timedelta(minutes=8), finished_at=now)
    for minutes in (7, 5, 5, 1):
        JobFactory(group=GroupFactory(campaign=campaign, status="accepted"), status="accepted",
                   finished_at=now - timedelta(minutes=minutes))
    done, per_site, width = job_throughput(campaign)
    assert width == timedelta(minutes=1)
    assert done.points[-1][1] == 4 and done.points[0][0] == campaign.started_at
    html = viewer_client.get(reverse("campaigns:campaign", args=[campaign.pk])).content.decode()
    assert "Jobs accepted per minute" in html and 'class="tick-label"' in html
