"""Issue 17, item 8: the API root, Swagger UI offline, the error summary's columns, events named one way and
linked, the builder's template filling the spec box, button colours, refusals that say why, and the BPS YAML's
``outputRun``."""

from __future__ import annotations

import re

import pytest
import yaml
from django.urls import reverse

from campaigns.models import CampaignTemplate, Group
from campaigns.services import create_campaign_from_spec
from campaigns.submission import render_bps_yaml
from tests.factories import GroupFactory

from .conftest import build_world

pytestmark = pytest.mark.django_db


def test_it_serves_the_api_root_with_a_link_to_every_collection(viewer_client):
    response = viewer_client.get("/api/v1/")
    assert response.status_code == 200
    links = response.json()
    for collection in ("campaigns", "steps", "groups", "jobs", "movements", "replicas", "sites", "events"):
        assert links[collection].endswith(f"/api/v1/{collection}/"), collection
    assert links["swagger-ui"].endswith("/api/schema/swagger-ui/")
    assert viewer_client.get(links["movements"]).status_code == 200


def test_the_api_root_refuses_anonymous_clients(client):
    assert client.get("/api/v1/").status_code in (401, 403)


def test_swagger_ui_loads_its_assets_from_this_server_not_a_cdn(viewer_client):
    html = viewer_client.get(reverse("api-swagger-ui")).content.decode()
    assert "cdn.jsdelivr.net" not in html and "unpkg.com" not in html
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert any("swagger-ui-bundle" in asset for asset in assets), html[:800]


def test_the_error_summary_puts_each_count_under_its_site(viewer_client):
    build_world(8)
    html = viewer_client.get(reverse("campaigns:errors")).content.decode()
    header = re.search(r"<thead>(.*?)</thead>", html, re.S).group(1)
    columns = re.findall(r"<th[^>]*>(.*?)</th>", header)
    for row in re.findall(r"<tr><td>(?:out of memory|unmatched)</td>(.*?)</tr>", html, re.S):
        cells = re.findall(r'<td class="num">(.*?)</td>', row, re.S)
        assert len(cells) == len(columns) - 1  # one per site and the total, under "Error rule" comes the name
        for column, cell in zip(columns[1:-1], cells[:-1], strict=True):
            if cell:
                assert f"site={column}" in cell  # the link of a count filters by the site of its column
    assert '<th class="num" scope="col">' in header  # counts are right-aligned under right-aligned headers


def test_events_name_each_object_one_way_and_link_to_its_page(viewer_client):
    campaign = build_world(4)
    group = Group.objects.filter(campaign=campaign, status="failed").first()
    group.retry(comment="try again")
    html = viewer_client.get(reverse("campaigns:campaign", args=[campaign.pk])).content.decode()
    assert f'<a href="{reverse("campaigns:group", args=[group.pk])}" title="{group}">group #{group.pk}</a>' in html
    campaign_url = reverse("campaigns:campaign", args=[campaign.pk])
    assert f'<a href="{campaign_url}" title="{campaign}">campaign #{campaign.pk}' in html
    assert "of step #" not in re.sub(r'title="[^"]*"', "", html)


def test_choosing_a_template_fills_the_spec_box(operator_client):
    template = CampaignTemplate.objects.create(name="tiny", spec="name: tiny\npipeline: mock:drp\n")
    page = operator_client.get(reverse("campaigns:builder")).content.decode()
    select = re.search(r'<select name="template"[^>]*>', page).group(0)
    assert f'hx-get="{reverse("campaigns:builder-spec")}"' in select and 'hx-target="#id_spec"' in select
    box = operator_client.get(reverse("campaigns:builder-spec") + f"?template={template.pk}").content.decode()
    assert box.startswith('<textarea name="spec" id="id_spec"') and "name: tiny\npipeline: mock:drp" in box
    assert "</textarea>" in operator_client.get(reverse("campaigns:builder-spec") + "?template=").content.decode()


def test_only_destructive_verbs_get_red_buttons(operator_client):
    group = GroupFactory(status="failed")
    retry = operator_client.get(reverse("action", args=["campaigns.group", group.pk, "retry"])).content.decode()
    reject = operator_client.get(reverse("action", args=["campaigns.group", group.pk, "reject"])).content.decode()
    assert 'class="btn btn-primary">Retry</button>' in retry
    assert 'class="btn btn-danger">Reject</button>' in reject
    page = operator_client.get(reverse("campaigns:group", args=[group.pk])).content.decode()
    assert 'btn-outline btn-primary" href="/actions/campaigns.group/' in page
    assert re.search(r'btn-outline btn-danger" href="/actions/campaigns\.group/\d+/reject/', page)
    listing = operator_client.get(reverse("campaigns:group-list") + "?status=failed").content.decode()
    assert f'btn-outline btn-primary" href="{reverse("campaigns:group-bulk", args=["retry"])}' in listing
    assert f'btn-outline btn-danger" href="{reverse("campaigns:group-bulk", args=["reject"])}' in listing


def test_a_refusal_says_which_role_is_needed(viewer_client, viewer):
    group = GroupFactory(status="failed")
    response = viewer_client.get(reverse("action", args=["campaigns.group", group.pk, "retry"]))
    assert response.status_code == 403
    text = response.content.decode()
    assert "needs the operator role" in text and viewer.username in text and "<html" in text


def test_the_bps_yaml_output_run_is_the_run_collection_the_attempt_shows(tmp_path):
    from sites.services import load_sites
    from tests.orchestration.test_scale import wide_step_spec

    load_sites()
    campaign = create_campaign_from_spec(None, wide_step_spec("bps-run"))
    group = Group.objects.filter(campaign=campaign).first()
    group.make_ready()
    group.prepare()
    from campaigns.submission import new_job

    job = new_job(group, rescue=False)
    job.save()
    document = yaml.safe_load(render_bps_yaml(job))
    assert document["payload"]["outputRun"] == job.run_collection
