"""Every page renders for a viewer, anonymous users go to log in, and query counts do not grow with rows."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from campaigns.models import Group, Step
from transfers.models import Movement

from .conftest import build_world

pytestmark = pytest.mark.django_db


def page_urls(campaign) -> dict[str, str]:
    """Return the URL of every UI page, by a short name, for a campaign built by ``build_world``."""
    step = Step.objects.filter(campaign=campaign).order_by("order").first()
    group = Group.objects.filter(campaign=campaign, status="failed").first()
    movement = Movement.objects.filter(campaign=campaign).first()
    hub = campaign.hub.code
    return {
        "home": reverse("home"),
        "campaign-list": reverse("campaigns:campaign-list"),
        "campaign": reverse("campaigns:campaign", args=[campaign.pk]),
        "campaign-live": reverse("campaigns:campaign-live", args=[campaign.pk]),
        "step": reverse("campaigns:step", args=[step.pk]),
        "group": reverse("campaigns:group", args=[group.pk]),
        "group-list": reverse("campaigns:group-list") + f"?campaign={campaign.pk}&status=failed",
        "errors": reverse("campaigns:errors"),
        "events": reverse("campaigns:event-list") + f"?campaign={campaign.pk}",
        "recurring": reverse("campaigns:recurring"),
        "site-list": reverse("sites:site-list"),
        "site": reverse("sites:site", args=[hub]),
        "movement-list": reverse("transfers:movement-list") + f"?campaign={campaign.pk}",
        "movement": reverse("transfers:movement", args=[movement.pk]),
        "site-pair": reverse("transfers:site-pair", args=["OTHER", hub]),
        "volume": reverse("transfers:volume") + f"?campaign={campaign.pk}",
        "timeline": reverse("campaigns:campaign-timeline", args=[campaign.pk]),
        "graph": reverse("campaigns:campaign-graph", args=[campaign.pk]),
    }


PAGE_NAMES = [
    "home", "campaign-list", "campaign", "campaign-live", "step", "group", "group-list", "errors", "events",
    "recurring", "site-list", "site", "movement-list", "movement", "site-pair", "volume",
    "timeline", "graph",
]


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_it_sends_anonymous_users_to_log_in(client, name):
    url = page_urls(build_world(4))[name]
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_it_refuses_a_signed_in_user_without_a_role(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("nobody", password="pw-for-tests"))
    assert client.get(reverse("home")).status_code == 403


def test_the_login_page_renders_and_logs_in(client, viewer):
    assert client.get(reverse("login")).status_code == 200
    response = client.post(reverse("login"), {"username": viewer.username, "password": "pw-for-tests"})
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 200


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_every_page_renders_for_a_viewer(viewer_client, name):
    campaign = build_world(8)
    response = viewer_client.get(page_urls(campaign)[name])
    assert response.status_code == 200, response.content[:500]


def test_the_home_page_shows_progress_sites_and_what_needs_attention(viewer_client):
    campaign = build_world(8)
    html = viewer_client.get(reverse("home")).content.decode()
    assert campaign.name in html
    assert "2/8" in html  # two of eight groups accepted
    assert "OTHER" in html and "Draining" in html
    assert "failed: out of memory" in html  # a failed group with its error rule
    assert "movement movement-" in html


def test_the_campaign_page_polls_only_while_the_campaign_is_not_finished(viewer_client):
    campaign = build_world(4)
    url = reverse("campaigns:campaign", args=[campaign.pk])
    live = reverse("campaigns:campaign-live", args=[campaign.pk])
    assert f'hx-get="{live}"' in viewer_client.get(url).content.decode()
    partial = viewer_client.get(live).content.decode()
    assert 'hx-trigger="every 3s"' in partial and "<html" not in partial
    campaign.reject(comment="done with it")
    assert "hx-trigger" not in viewer_client.get(url).content.decode()
    assert "hx-trigger" not in viewer_client.get(live).content.decode()


def test_the_campaign_page_shows_the_matrix_gates_and_plots(viewer_client):
    campaign = build_world(8)
    response = viewer_client.get(reverse("campaigns:campaign", args=[campaign.pk]))
    matrix = response.context["matrix"]
    assert matrix.sites == [campaign.hub.code, "OTHER"]
    step1_cells = dict((cell.site, cell) for cell in matrix.rows[0][1])
    assert sum(cell.total for cell in step1_cells.values()) == 4
    html = response.content.decode()
    assert "cell-danger" in html  # a failed group colours its cell
    assert "<polyline" in html
    assert "gates" in html and "movement-" in html


def test_the_error_summary_counts_by_rule_and_site_and_links_to_the_groups(viewer_client):
    build_world(8)
    response = viewer_client.get(reverse("campaigns:errors"))
    names = {row["rule_name"]: row["total"] for row in response.context["rows"]}
    assert names == {"out of memory": 1, "unmatched": 1}
    assert "error_rule=unmatched" in response.content.decode()


def test_a_group_list_filter_from_the_error_summary_finds_the_groups(viewer_client):
    build_world(8)
    response = viewer_client.get(reverse("campaigns:group-list") + "?status=failed&error_rule=unmatched")
    assert [g.status for g in response.context["object_list"]] == ["failed"]


# Pages whose query count must not grow with the number of groups, jobs and movements.
@pytest.mark.parametrize("name", PAGE_NAMES)
def test_the_query_count_does_not_grow_with_rows(viewer_client, django_assert_num_queries, name):
    small = page_urls(build_world(2))[name]
    viewer_client.get(small)  # warm caches (content types, sessions)
    with CaptureQueriesContext(connection) as few:
        assert viewer_client.get(small).status_code == 200
    large = page_urls(build_world(50))[name]
    with CaptureQueriesContext(connection) as many:
        assert viewer_client.get(large).status_code == 200
    assert len(many) == len(few), [q["sql"][:150] for q in many.captured_queries]
    with django_assert_num_queries(QUERY_COUNTS[name]):
        viewer_client.get(large)


# Pinned per page; each full page includes 3 for the session, the user and the user's roles and 1 for the
# liveness banner (the home page 1 more for the stall thresholds).
QUERY_COUNTS = {
    "home": 14, "campaign-list": 10, "campaign": 15, "campaign-live": 11, "step": 12, "group": 7,
    "group-list": 9, "errors": 5, "events": 8, "recurring": 5, "site-list": 7, "site": 15,
    "movement-list": 13, "movement": 9, "site-pair": 10, "volume": 10,
    "timeline": 7, "graph": 11,
}


def test_a_panda_attempt_links_to_the_panda_monitor_and_shows_its_tasks(viewer_client):
    from tests.factories import GroupFactory, JobFactory

    group = GroupFactory()
    JobFactory(group=group, attempt=1, backend="panda", status="running", external_ids={
        "request_id": 1234, "task_ids": [50001, 50002],
        "monitor_url": "https://panda-mon.example.org/idds/wfprogress/?reqid=1234",
        "tasks_url": "https://panda-mon.example.org/tasks/?reqid=1234",
        "tasks": {"isr": {"status": "Transforming", "expected": 4, "succeeded": 3, "failed": 1},
                  "calibrateImage": {"status": "New", "expected": 4, "succeeded": 0, "failed": 0}},
    })

    page = viewer_client.get(reverse("campaigns:group", args=[group.pk])).content.decode()

    assert 'href="https://panda-mon.example.org/idds/wfprogress/?reqid=1234"' in page
    assert 'href="https://panda-mon.example.org/tasks/?reqid=1234"' in page
    assert "tasks 50001, 50002" in page
    assert "<tr><td>isr</td><td>Transforming</td><td>4</td><td>3</td><td>1</td></tr>" in page
    assert "<tr><td>calibrateImage</td><td>New</td><td>4</td><td>0</td><td>0</td></tr>" in page


def test_a_rucio_movement_shows_its_rule_rse_and_dataset(viewer_client):
    from tests.factories import MovementFactory

    movement = MovementFactory(key="archive", kind="archive", status="transferring", external_ids={
        "scope": "dp2", "dataset": "msproc.archive.1a2b3c4d", "rse": "SLAC_TAPE", "rule_id": "9f" * 16,
        "files": 12, "bytes": 3 * 1024**3, "archives": ["msproc.return_a.00000001", "msproc.return_b.00000002"],
    })

    page = viewer_client.get(reverse("transfers:movement", args=[movement.pk])).content.decode()

    assert f"rule <code>{'9f' * 16}</code> to <strong>SLAC_TAPE</strong>" in page
    assert "dataset <code>dp2:msproc.archive.1a2b3c4d</code> (12 files, 3.0 GiB)" in page
    assert "archives <code>msproc.return_a.00000001</code>, <code>msproc.return_b.00000002</code>" in page
