"""Site-wide operator actions: reassigning a site's pending groups, and rinse-and-repeat of the embedded sites."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from campaigns.models import Group
from campaigns.services import create_campaign_from_spec
from core.models import Event
from sites import tasks
from sites.models import Site
from sites.services import load_sites
from tests.orchestration.test_reconciler import TEMPLATES

from .conftest import build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign_2x4(db):
    load_sites()
    campaign = create_campaign_from_spec(None, (TEMPLATES / "2x4.yaml").read_text())
    campaign.start()
    return campaign


@pytest.fixture
def site_admin_client(site_admin):
    client = Client()
    client.force_login(site_admin)
    return client


def reassign_url(code: str) -> str:
    return reverse("sites:reassign", args=[code])


def groups_at(campaign, code: str) -> int:
    return Group.objects.filter(campaign=campaign, site__code=code).count()


def test_a_viewer_cannot_reassign_and_sees_no_button(campaign_2x4, viewer_client):
    Site.objects.get(code="LANCS").take_offline(comment="downtime")
    before = groups_at(campaign_2x4, "LANCS")
    assert viewer_client.get(reassign_url("LANCS")).status_code == 403
    data = {"campaigns": [campaign_2x4.pk], "to_site": "RAL", "comment": "LANCS down"}
    assert viewer_client.post(reassign_url("LANCS"), data).status_code == 403
    assert groups_at(campaign_2x4, "LANCS") == before > 0
    for url in (reverse("sites:site", args=["LANCS"]), reverse("campaigns:campaign", args=[campaign_2x4.pk])):
        assert reassign_url("LANCS") not in viewer_client.get(url).content.decode(), url


def test_anonymous_reassign_goes_to_log_in(db, client):
    response = client.post(reassign_url("LANCS"), {"to_site": "RAL", "comment": "x"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_an_operator_reassigns_an_offline_sites_pending_groups(campaign_2x4, operator_client, operator):
    lancs = Site.objects.get(code="LANCS")
    lancs.take_offline(comment="downtime")
    pending = groups_at(campaign_2x4, "LANCS")
    # Both pages offer it: the site page, and the campaign page next to the matrix.
    assert reassign_url("LANCS") in operator_client.get(reverse("sites:site", args=["LANCS"])).content.decode()
    campaign_page = operator_client.get(reverse("campaigns:campaign", args=[campaign_2x4.pk])).content.decode()
    assert f"{reassign_url('LANCS')}?campaign={campaign_2x4.pk}" in campaign_page
    assert f"LANCS is offline with {pending} pending groups" in campaign_page

    form = operator_client.get(reassign_url("LANCS") + f"?campaign={campaign_2x4.pk}")
    html = form.content.decode()
    assert form.status_code == 200 and f"{pending} pending groups" in html
    assert form.context["form"].initial["campaigns"] == [str(campaign_2x4.pk)]

    response = operator_client.post(reassign_url("LANCS"), {
        "campaigns": [campaign_2x4.pk], "to_site": "RAL", "comment": "LANCS down for a week"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("sites:site", args=["LANCS"])
    assert groups_at(campaign_2x4, "LANCS") == 0
    text = response.content.decode()
    assert f"{campaign_2x4.name}: {pending} pending groups moved LANCS → RAL; movements" in text
    assert "cancelled." in text
    event = Event.objects.get(verb="reassign_groups")
    assert (event.object_id, event.campaign, event.actor) == (lancs.pk, campaign_2x4, operator)
    assert event.comment == f"{pending} groups -> RAL: LANCS down for a week"
    assert Event.objects.filter(verb="reassign", comment__contains="LANCS -> RAL: LANCS down for a week").count() \
        == pending
    assert "LANCS down for a week" in text  # the site's history shows it


def test_a_reassign_error_is_shown_next_to_the_field_it_names(campaign_2x4, operator_client):
    Site.objects.get(code="LANCS").take_offline(comment="downtime")
    Site.objects.get(code="RAL").take_offline(comment="also down")
    pending = groups_at(campaign_2x4, "LANCS")
    response = operator_client.post(reassign_url("LANCS"), {
        "campaigns": [campaign_2x4.pk], "to_site": "RAL", "comment": "move"})
    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors["to_site"] == ["RAL is offline"]
    html = response.content.decode()
    field = html[html.index('id="field-to_site"'):]
    assert "RAL is offline" in field[:field.index("</div>")]
    assert "Nothing was reassigned" in html
    assert groups_at(campaign_2x4, "LANCS") == pending
    assert not Event.objects.filter(verb__in=["reassign", "reassign_groups"]).exists()


def test_reassigning_from_an_online_site_is_refused_on_the_from_site_field(campaign_2x4, operator_client):
    html = operator_client.get(reassign_url("LANCS")).content.decode()
    assert "LANCS is online: drain it or take it offline first" in html
    response = operator_client.post(reassign_url("LANCS"), {
        "campaigns": [campaign_2x4.pk], "to_site": "RAL", "comment": "move"})
    assert response.context["form"].errors["from_site"][0].startswith("LANCS is online")
    assert groups_at(campaign_2x4, "LANCS") > 0


def test_reassigning_needs_a_comment_and_a_campaign(campaign_2x4, operator_client):
    Site.objects.get(code="LANCS").take_offline(comment="downtime")
    response = operator_client.post(reassign_url("LANCS"), {"to_site": "RAL", "comment": " "})
    assert set(response.context["form"].errors) == {"campaigns", "comment"}
    assert groups_at(campaign_2x4, "LANCS") > 0


def test_rinse_is_refused_to_viewers_and_operators(viewer_client, operator_client, monkeypatch,
                                                   django_capture_on_commit_callbacks):
    calls = []
    monkeypatch.setattr(tasks.rinse_sites, "delay", lambda *args: calls.append(args))
    url = reverse("sites:rinse")
    for client in (viewer_client, operator_client):
        assert url not in client.get(reverse("sites:site-list")).content.decode()
        assert client.get(url).status_code == 403
        with django_capture_on_commit_callbacks(execute=True):
            assert client.post(url, {"comment": "start over"}).status_code == 403
    assert calls == [] and not Event.objects.filter(verb="rinse_sites").exists()


def test_a_site_admin_rinses_the_embedded_sites_on_commit(site_admin_client, site_admin, monkeypatch,
                                                          django_capture_on_commit_callbacks):
    load_sites()
    calls = []
    monkeypatch.setattr(tasks.rinse_sites, "delay", lambda *args: calls.append(args))
    url = reverse("sites:rinse")
    assert url in site_admin_client.get(reverse("sites:site-list")).content.decode()
    assert "Rinse and repeat the embedded sites?" in site_admin_client.get(url).content.decode()
    assert site_admin_client.post(url, {"comment": ""}).status_code == 200  # a comment is required
    with django_capture_on_commit_callbacks() as callbacks:
        response = site_admin_client.post(url, {"comment": "start over"})
    assert response.status_code == 302 and response["Location"] == reverse("sites:site-list")
    assert calls == []  # not before the commit
    for callback in callbacks:
        callback()
    assert calls == [(site_admin.pk,)]
    event = Event.objects.get(verb="rinse_sites")
    assert (event.actor, event.comment, event.object_repr) == (site_admin, "start over", "embedded sites")
    page = site_admin_client.get(reverse("sites:site-list")).content.decode()
    assert f"embedded sites: rinse-and-repeat queued by {site_admin.username} (start over)" in page


def test_the_query_count_of_the_forms_does_not_grow_with_rows(operator_client, site_admin_client,
                                                              django_assert_num_queries):
    build_world(2)  # a failed group at OTHER
    url = reassign_url("OTHER")
    operator_client.get(url)  # warm caches (content types, sessions)
    with CaptureQueriesContext(connection) as few:
        assert len(operator_client.get(url).context["form"].fields["campaigns"].choices) == 1
    build_world(50)  # a second campaign, with many more groups at OTHER
    with CaptureQueriesContext(connection) as many:
        assert len(operator_client.get(url).context["form"].fields["campaigns"].choices) == 2
    assert len(many) == len(few), [q["sql"][:150] for q in many.captured_queries]
    with django_assert_num_queries(QUERY_COUNTS["reassign"]):
        operator_client.get(url)
    with django_assert_num_queries(QUERY_COUNTS["rinse"]):
        assert site_admin_client.get(reverse("sites:rinse")).status_code == 200


# Pinned like tests/ui/test_pages.py's; the campaigns and sites choices are read through server-side cursors.
QUERY_COUNTS = {"reassign": 9, "rinse": 6}  # each 1 for the liveness banner


def test_the_form_offers_only_sites_taking_part_and_previews_without_changing_anything(db, operator_client):
    import yaml

    load_sites()
    document = yaml.safe_load((TEMPLATES / "2x4.yaml").read_text())
    document["sites"] = ["SLAC", "IN2P3", "RAL"]
    document["tract_map"] = {9469: "SLAC", 9470: "SLAC", 9948: "IN2P3", 9949: "IN2P3", 1: "RAL", 2: "RAL"}
    campaign = create_campaign_from_spec("ui-3x2", yaml.safe_dump(document))
    campaign.start()
    Site.objects.get(code="RAL").take_offline(comment="down")
    form = operator_client.get(reassign_url("RAL")).context["form"]
    assert sorted(form.fields["to_site"].queryset.values_list("code", flat=True)) == ["IN2P3", "SLAC"]
    before = groups_at(campaign, "RAL")
    response = operator_client.post(reassign_url("RAL"), {
        "campaigns": [campaign.pk], "to_site": "IN2P3", "mode": "wait", "comment": "RAL down", "preview": "1"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Preview (nothing changed yet)" in html and f"{before} pending groups move to IN2P3" in html
    assert groups_at(campaign, "RAL") == before
    refused = operator_client.post(reassign_url("RAL"), {
        "campaigns": [campaign.pk], "to_site": "LANCS", "comment": "RAL down"})
    assert "to_site" in refused.context["form"].errors and groups_at(campaign, "RAL") == before
