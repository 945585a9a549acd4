"""Bulk routes (API and UI) act only when a declared filter applied, and refuse every other parameter.

The routes are found by walking the URL configuration, so a bulk route added later is covered too.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group as RoleGroup
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from campaigns.models import Group, Job
from core import roles
from core.models import Event
from tests.factories import GroupFactory, MovementFactory, SiteFactory, UserFactory
from transfers.models import Movement


def _bulk_routes(patterns: Any = None, namespace: str = "") -> list[tuple[str, Any]]:
    """Return ``(url name, view callback)`` of every route whose name ends in ``bulk``."""
    found = []
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            found += _bulk_routes(pattern.url_patterns, inner)
        elif isinstance(pattern, URLPattern) and (pattern.name or "").endswith("bulk"):
            found.append((f"{namespace}{pattern.name}", pattern.callback))
    return found


def _model_of(callback: Any) -> Any:
    view = getattr(callback, "cls", None) or callback.view_class
    filterset_class = getattr(view, "filterset_class", None)
    if filterset_class is None:  # the UI view builds its GroupFilterSet itself
        return Group
    return filterset_class._meta.model


API_ROUTES = [name for name, callback in _bulk_routes() if hasattr(callback, "cls")]
UI_ROUTES = [name for name, callback in _bulk_routes() if not hasattr(callback, "cls")]
MODELS = {name: _model_of(callback) for name, callback in _bulk_routes()}


def test_it_finds_the_bulk_routes_of_groups_and_movements_in_the_api_and_of_groups_in_the_ui():
    assert {"campaigns-api:group-bulk", "transfers-api:movement-bulk"} <= set(API_ROUTES)
    assert "campaigns:group-bulk" in UI_ROUTES


@pytest.fixture
def two_campaigns(db):
    """Two campaigns, each with a failed group and a failed movement at LANCS."""
    site = SiteFactory(code="LANCS")
    first = GroupFactory(status="failed", site=site)
    second = GroupFactory(status="failed", site=site)
    for group in (first, second):
        MovementFactory(campaign=group.campaign, destination=site, status="failed")
    return first.campaign, second.campaign


def _operator() -> Any:
    roles.ensure_roles()
    user = UserFactory(username="bulk-operator")
    user.groups.add(RoleGroup.objects.get(name=roles.OPERATOR))
    return user


def _verb(route: str) -> str:
    return "cancel" if MODELS[route] is Movement else "reject"


def _url(route: str) -> str:
    if route in UI_ROUTES:
        return reverse(route, args=[_verb(route)])
    return reverse(route, kwargs={"verb": _verb(route)})


def _snapshot() -> tuple:
    return (sorted(Group.objects.values_list("pk", "status")), sorted(Movement.objects.values_list("pk", "status")),
            Event.objects.count())


def _refused_query_strings(campaign: Any) -> dict[str, set[str]]:
    """Query string -> the parameters the 400 must name (``non_field_errors``: no filter applied)."""
    return {
        "": {"non_field_errors"},
        f"campaign_id={campaign.pk}": {"campaign_id", "non_field_errors"},
        "page_size=1000": {"page_size", "non_field_errors"},
        "page=1": {"page", "non_field_errors"},
        "ordering=-pk": {"ordering", "non_field_errors"},
        "status=": {"status"},  # an empty choice is an invalid value, named as such
        "q=+++&step=": {"non_field_errors"},
        "changed_after=&changed_before=": {"non_field_errors"},
        f"campaign={campaign.pk}&page_size=1000": {"page_size"},
        f"campaign={campaign.pk}&campain={campaign.pk}": {"campain"},
        "campaign=": {"non_field_errors"},
    }


@pytest.mark.parametrize("route", API_ROUTES)
def test_it_refuses_an_api_bulk_action_whose_filters_did_not_apply_or_with_an_unknown_parameter(two_campaigns,
                                                                                                 route):
    client = Client()
    client.force_login(_operator())
    before = _snapshot()
    for query, named in _refused_query_strings(two_campaigns[0]).items():
        response = client.post(f"{_url(route)}?{query}", {"comment": "x"}, content_type="application/json")
        assert response.status_code == 400, (route, query)
        assert set(response.json()) == named, (route, query, response.json())
    assert _snapshot() == before


@pytest.mark.parametrize("route", UI_ROUTES)
@pytest.mark.parametrize("method", ["get", "post"])
def test_it_refuses_a_ui_bulk_confirm_page_and_post_whose_filters_did_not_apply(two_campaigns, route, method):
    client = Client()
    client.force_login(_operator())
    before = _snapshot()
    for query, named in _refused_query_strings(two_campaigns[0]).items():
        response = getattr(client, method)(f"{_url(route)}?{query}", {"comment": "x"} if method == "post" else None)
        assert response.status_code == 400, (route, query)
        html = response.content.decode()
        assert "refused" in html and "Confirm" not in html.split("<h1>", 1)[1]
        for name in named - {"non_field_errors"}:
            assert f"<code>{name}</code>" in html, (query, name)
        if "non_field_errors" in named:
            assert "No filter applied" in html
    assert _snapshot() == before


@pytest.mark.parametrize("route", API_ROUTES + UI_ROUTES)
def test_it_acts_only_on_the_campaign_the_applied_filter_names(two_campaigns, route):
    chosen, other = two_campaigns
    client = Client()
    client.force_login(_operator())
    response = client.post(f"{_url(route)}?campaign={chosen.pk}", {"comment": "x"},
                           **({} if route in UI_ROUTES else {"content_type": "application/json"}))
    assert response.status_code in (202, 302)
    model = MODELS[route]
    assert not model.objects.filter(campaign=chosen, status="failed").exists()
    assert model.objects.filter(campaign=other, status="failed").count() == 1


def test_it_names_an_invalid_filter_value_in_the_400(two_campaigns):
    client = Client()
    client.force_login(_operator())
    response = client.post(reverse("campaigns-api:group-bulk", kwargs={"verb": "reject"}) + "?campaign=999999999",
                           content_type="application/json")
    assert response.status_code == 400
    assert set(response.json()) == {"campaign"}
    ui = client.get(reverse("campaigns:group-bulk", args=["reject"]) + "?status=nonsense")
    assert ui.status_code == 400 and "<code>status</code>" in ui.content.decode()


def test_it_counts_a_date_range_with_one_end_and_a_boolean_false_as_applied_filters(two_campaigns):
    from campaigns.filtersets import GroupFilterSet, JobFilterSet

    groups = GroupFilterSet({"changed_before": "2000-01-01"}, queryset=Group.objects.all())
    assert groups.bulk_errors() == {} and groups.applied_filters() == ["changed"]
    jobs = JobFilterSet({"rescue": "false"}, queryset=Job.objects.none())
    assert jobs.bulk_errors() == {}



def test_the_schema_documents_the_bulk_refusal(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    for path in ("/api/v1/groups/bulk/{verb}/", "/api/v1/movements/bulk/{verb}/"):
        refused = schema["paths"][path]["post"]["responses"]["400"]
        assert "not a filter" in refused["description"] and "no filter applied" in refused["description"]


def test_the_group_list_offers_bulk_buttons_only_when_a_filter_applied(two_campaigns):
    client = Client()
    client.force_login(_operator())
    bulk = reverse("campaigns:group-bulk", args=["reject"])
    listing = reverse("campaigns:group-list")
    assert bulk in client.get(f"{listing}?campaign={two_campaigns[0].pk}").content.decode()
    assert bulk in client.get(f"{listing}?campaign={two_campaigns[0].pk}&page=1").content.decode()
    for query in ("", "q=&status=&site=", "page_size=1000", f"campaign_id={two_campaigns[0].pk}"):
        assert bulk not in client.get(f"{listing}?{query}").content.decode(), query
