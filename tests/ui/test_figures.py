"""Issue 17, items 2 and 3: the per-site timeline (Gantt) and the graph of a 2x2 campaign run to the end."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from campaigns.graph import campaign_graph
from campaigns.timeline import campaign_timeline
from tests.orchestration.test_reconciler import campaign, noop, run_ticks  # noqa: F401  (fixtures)
from transfers.models import Movement

pytestmark = pytest.mark.django_db


@pytest.fixture
def finished(campaign, django_capture_on_commit_callbacks):  # noqa: F811
    run_ticks(django_capture_on_commit_callbacks, campaign)
    campaign.refresh_from_db()
    assert campaign.status == "accepted"
    return campaign


def test_the_timeline_shows_each_step_at_each_site_after_the_movements_that_gate_it(finished):
    timeline = campaign_timeline(finished)
    assert timeline.rows[0].site == finished.hub.code and timeline.rows[0].first_of_site
    gated = [row for row in timeline.rows if [bar.kind for bar in row.bars] == ["movements", "groups"]]
    assert gated, [(row.site, row.label, [b.kind for b in row.bars]) for row in timeline.rows]
    for row in gated:
        movements, groups = row.bars
        assert movements.end <= groups.start  # the step ran at the site only after its data arrived
        assert movements.x + movements.width <= groups.x + 0.5
    assert {row.label for row in timeline.rows} >= {"return", "archive"}
    assert all(bar.state == "success" for row in timeline.rows for bar in row.bars)
    assert all(timeline.left <= x <= timeline.right for x, _ in timeline.ticks)


def test_the_graph_links_every_step_and_movement_including_return_and_archive(finished):
    graph = campaign_graph(finished)
    movements = Movement.objects.filter(campaign=finished)
    assert sum(node.kind == "movement" for node in graph.nodes) == movements.count()
    by_id = {node.id: node for node in graph.nodes}
    archive = movements.get(kind="archive")
    into_archive = {edge.source for edge in graph.edges if edge.target == f"m{archive.pk}"}
    assert {f"m{pk}" for pk in movements.filter(kind="return").values_list("pk", flat=True)} <= into_archive
    for edge in graph.edges:  # laid out left to right in dependency order
        assert by_id[edge.source].x < by_id[edge.target].x
    boxes = [(node.x, node.y) for node in graph.nodes]
    assert len(set(boxes)) == len(boxes)  # no two nodes on top of each other
    assert {node.colour for node in graph.nodes} == {"success"}


def test_the_pages_draw_them_with_links(viewer_client, finished):
    timeline = viewer_client.get(reverse("campaigns:campaign-timeline", args=[finished.pk])).content.decode()
    assert timeline.count('data-kind="groups"') >= 4 and 'data-kind="movements"' in timeline
    graph = viewer_client.get(reverse("campaigns:campaign-graph", args=[finished.pk])).content.decode()
    archive = Movement.objects.get(campaign=finished, kind="archive")
    assert f'href="{reverse("transfers:movement", args=[archive.pk])}"' in graph
    assert len(re.findall(r'<path class="edge data"', graph)) >= Movement.objects.filter(campaign=finished).count()
