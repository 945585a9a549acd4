"""One permission table (core.permissions) decides for the API, the UI and the admin: for users of each role,
every row of the table gets the table's answer from each interface that offers its operation.

The rows are read from the table itself, and the interfaces' operations from their own registries (the API
routers, the UI's URLconf, the admin site), so a new row, route, page or admin is covered without editing
this file. The API's and the admin's answers come from their own gates (DRF's ``check_permissions`` on the
routed viewset, the ModelAdmin's rights and listed actions); the UI's from requests to its pages.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group as RoleGroup
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.exceptions import NotAuthenticated, PermissionDenied
from rest_framework.test import APIClient, APIRequestFactory

from core import actions, permissions, roles
from core.htmx import RoleRequiredMixin
from msproc.api_urls import APPS
from tests import factories

pytestmark = pytest.mark.django_db

NO_ROLE = "no role"
ROLE_NAMES = (NO_ROLE, roles.VIEWER, roles.OPERATOR, roles.SITE_ADMIN, roles.STAFF)
OUR_APPS = {"core", "sites", "transfers", "campaigns", "notifications"}


def make_user(role: str) -> Any:
    roles.ensure_roles()
    user = factories.UserFactory(username=f"table-{role.replace(' ', '-')}")
    if role in roles.ROLES:
        user.groups.add(RoleGroup.objects.get(name=role))
    return user


@pytest.fixture
def users() -> dict[str, Any]:
    return {role: make_user(role) for role in ROLE_NAMES}


# --- the API: every routed viewset of a model, and the operation of each of its routes -------------------------

@dataclass(frozen=True)
class ApiRoute:
    viewset: type
    action: str
    method: str
    kwargs: tuple[tuple[str, str], ...] = ()


def api_routes() -> dict[tuple[str, str], list[ApiRoute]]:
    """(label, operation) -> the API routes performing it."""
    routes: dict[tuple[str, str], list[ApiRoute]] = {}
    for _, _, router in APPS:
        for _, viewset, _ in router.registry:
            model = getattr(getattr(viewset, "queryset", None), "model", None)
            if model is None:
                continue
            label = model._meta.label_lower
            offered = [(permissions.VIEW, ApiRoute(viewset, name, "get")) for name in ("list", "retrieve")
                       if hasattr(viewset, name)]
            offered += [(operation, ApiRoute(viewset, name, method)) for name, method, operation in (
                ("create", "post", permissions.ADD), ("partial_update", "patch", permissions.CHANGE),
                ("destroy", "delete", permissions.DELETE)) if hasattr(viewset, name)]
            for extra in viewset.get_extra_actions():
                if "post" not in extra.mapping:
                    continue
                if extra.__name__ == "bulk":
                    offered += [(verb, ApiRoute(viewset, "bulk", "post", (("verb", verb),)))
                                for verb in actions.allowed_verbs(model)]
                else:
                    offered.append((extra.__name__, ApiRoute(viewset, extra.__name__, "post")))
            for operation, route in offered:
                routes.setdefault((label, operation), []).append(route)
    return routes


def api_answer(route: ApiRoute, user: Any) -> bool:
    """What the API's own gate (DRF's check_permissions, as ``initial()`` runs it) answers ``user``."""
    view = route.viewset(action=route.action, action_map={route.method: route.action}, kwargs=dict(route.kwargs),
                         format_kwarg=None)
    request = view.initialize_request(getattr(APIRequestFactory(), route.method)("/api/v1/"))
    request.user = user
    view.request, view.args, view.headers = request, (), {}
    try:
        view.check_permissions(request)
    except (PermissionDenied, NotAuthenticated):
        return False
    return True


# --- the admin: msproc's ModelAdmins, their rights and their verb actions ----------------------------------------

def model_admins() -> dict[str, Any]:
    return {model._meta.label_lower: model_admin for model, model_admin in admin.site._registry.items()
            if model._meta.app_label in OUR_APPS}


def admin_answer(model_admin: Any, operation: str, user: Any) -> bool:
    request = RequestFactory().get("/admin/")
    request.user = user
    if not admin.site.has_permission(request):
        return False  # refused at the door: the login page
    if operation in permissions.CRUD:
        return getattr(model_admin, f"has_{operation}_permission")(request)
    return any(getattr(func, "verb", None) == operation for func, _, _ in model_admin.get_actions(request).values())


# --- the UI: every page guarded by the table (RoleRequiredMixin), found in the URLconf ----------------------------

@dataclass(frozen=True)
class UiPage:
    route: str
    view_class: type


def ui_pages(resolver: Any = None, prefix: str = "") -> Iterator[UiPage]:
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            yield from ui_pages(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            view_class = getattr(entry.callback, "view_class", None)
            if view_class is not None and issubclass(view_class, RoleRequiredMixin):
                yield UiPage(prefix + str(entry.pattern), view_class)


def ui_operations() -> dict[tuple[str, str], list[UiPage]]:
    """(label, operation) -> the pages that ask that row."""
    found: dict[tuple[str, str], list[UiPage]] = {}
    for page in ui_pages():
        for row in page.view_class.operations():
            found.setdefault(row, []).append(page)
    return found


@pytest.fixture
def world() -> dict[str, Any]:
    """One object of each kind a UI page names in its URL."""
    group = factories.GroupFactory(status="failed")
    return {"campaigns.campaign": group.campaign, "campaigns.step": group.step, "campaigns.group": group,
            "transfers.movement": factories.MovementFactory(campaign=group.campaign, status="failed"),
            "sites.site": group.site}


def ui_url(page: UiPage, label: str, operation: str, world: dict[str, Any]) -> str:
    values = {"label": label, "verb": operation, "code": world["sites.site"].code,
              "source": world["sites.site"].code, "destination": world["sites.site"].code}

    def value(match: re.Match) -> str:
        name = match.group(1)
        if name == "pk":
            return str(world[label].pk)
        return values[name]

    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", value, page.route)


def ui_answer(page: UiPage, label: str, operation: str, user: Any, world: dict[str, Any]) -> bool:
    """Whether the page lets ``user`` through (anything but 403): a GET asks the page's own row, a POST (the
    builder's save, adding a schedule) the row the page asks besides."""
    client = Client()
    client.force_login(user)
    url = ui_url(page, label, operation, world)
    asked_on_post = {page.view_class.post_permission, getattr(page.view_class, "save_permission", None)}
    response = client.post(url, {"action": "save"}) if (label, operation) in asked_on_post else client.get(url)
    assert response.status_code < 500, (url, response.status_code)
    return response.status_code != 403


# --- the comparison -----------------------------------------------------------------------------------------------

def test_every_row_gets_the_tables_answer_from_the_api_the_ui_and_the_admin(users, world):
    api, ui, admins = api_routes(), ui_operations(), model_admins()
    disagreements, unoffered = [], []
    for row in permissions.rows():
        key = (row.label, row.operation)
        model_admin = admins.get(row.label)
        admin_offers = model_admin is not None and model_admin.offers(row.operation)
        offered_somewhere = bool(api.get(key) or ui.get(key) or admin_offers)
        if row.role is not roles.nobody and not offered_somewhere:
            unoffered.append(key)
        for role, user in users.items():
            expected = row.role(user)
            answers = {f"API {route.viewset.__name__}.{route.action}": api_answer(route, user)
                       for route in api.get(key, ())}
            pages = ui.get(key, ())
            # Every page asking a write row is asked; of the pages asking a view row, the first.
            for page in pages[:1] if row.operation == permissions.VIEW else pages:
                answers[f"UI {page.route}"] = ui_answer(page, row.label, row.operation, user, world)
            if admin_offers:
                answers[f"admin {type(model_admin).__name__}"] = admin_answer(model_admin, row.operation, user)
            disagreements += [(row.label, row.operation, role, where, answer, expected)
                              for where, answer in answers.items() if answer != expected]
    assert not disagreements, "\n".join(
        f"{label} {operation} for {role}: {where} says {answer}, the table {expected}"
        for label, operation, role, where, answer, expected in disagreements)
    assert not unoffered, f"rows granted to a role that no interface offers: {unoffered}"


def test_every_operation_an_interface_offers_has_a_row():
    """A route, page or admin right without a row would be refused to everyone: it must be granted first."""
    offered = set(api_routes()) | set(ui_operations())
    for label, model_admin in model_admins().items():
        offered |= {(label, operation) for operation in permissions.CRUD if model_admin.offers(operation)}
        offered |= {(label, getattr(action, "verb", None)) for action in model_admin.actions or ()
                    if getattr(action, "verb", None)}
    missing = sorted(key for key in offered if not permissions.has_row(*key))
    assert not missing, f"offered without a row in core.permissions: {missing}"


def test_every_admin_of_ours_asks_the_table():
    from core.admin_actions import TableAdmin

    assert {label for label, model_admin in model_admins().items() if not isinstance(model_admin, TableAdmin)} == set()


def test_a_row_granted_twice_to_another_role_is_refused():
    with pytest.raises(ValueError, match="granted to staff already"):
        permissions.grant_one("campaigns.campaign", permissions.ADD, roles.can_operate)


def test_the_table_names_the_roles_the_docs_give():
    """docs/api.md and docs/security.md: operators plan and act, staff create campaigns."""
    table = {(row.label, row.operation): row.role_name for row in permissions.rows()}
    assert table[("campaigns.campaign", "add")] == roles.STAFF
    assert table[("campaigns.campaign", "schedule")] == roles.STAFF
    assert table[("campaigns.campaign", "plan")] == roles.OPERATOR
    assert table[("campaigns.campaign", "reassign")] == roles.OPERATOR
    assert table[("campaigns.group", "retry")] == roles.OPERATOR
    assert table[("sites.site", "drain")] == roles.SITE_ADMIN
    assert table[("core.event", "change")] == "nobody"


# --- the refusals, as each interface answers them --------------------------------------------------------------------

def test_the_api_refuses_an_operator_a_campaign_and_a_viewer_a_plan(users):
    operator, viewer = APIClient(), APIClient()
    operator.force_authenticate(users[roles.OPERATOR])
    viewer.force_authenticate(users[roles.VIEWER])
    response = operator.post("/api/v1/campaigns/", {"spec": "name: x\n"}, format="json")
    assert response.status_code == 403 and response.json() == {"detail": "Your role does not allow this."}
    assert viewer.post("/api/v1/campaigns/plan/", {"spec": "name: x\n"}, format="json").status_code == 403
    assert operator.post("/api/v1/campaigns/plan/", {"spec": "not: a campaign"}, format="json").status_code == 400


def test_the_ui_refuses_a_viewer_the_reassignment_and_an_operator_the_rinse(users, world):
    viewer, operator = Client(), Client()
    viewer.force_login(users[roles.VIEWER])
    operator.force_login(users[roles.OPERATOR])
    site = world["sites.site"]
    response = viewer.get(reverse("sites:reassign", args=[site.code]))
    assert response.status_code == 403 and "needs the operator role" in response.content.decode()
    assert operator.get(reverse("sites:reassign", args=[site.code])).status_code == 200
    assert operator.get(reverse("sites:rinse")).status_code == 403
    assert "rinse and repeat" not in operator.get(reverse("sites:site-list")).content.decode()


def test_the_admin_shows_an_operator_what_the_table_allows_and_refuses_the_rest(users, world):
    client = Client()
    client.force_login(users[roles.OPERATOR])
    index = client.get(reverse("admin:index")).content.decode()
    assert "Groups" in index and "Channels" not in index, "channels (webhook targets) are staff's"
    assert client.get(reverse("admin:notifications_channel_changelist")).status_code == 403
    assert client.get(reverse("admin:campaigns_campaigntemplate_add")).status_code == 403
    assert client.get(reverse("admin:campaigns_campaign_add")).status_code == 403
    changelist = client.get(reverse("admin:campaigns_group_changelist")).content.decode()
    assert 'value="action_retry"' in changelist and 'value="delete_selected"' not in changelist
    group = world["campaigns.group"]
    client.post(reverse("admin:campaigns_group_changelist"), {"action": "action_retry", "_selected_action": [group.pk]})
    group.refresh_from_db()
    assert group.status == "ready"


def test_the_admin_lets_a_viewer_read_but_act_on_nothing(users, world):
    client = Client()
    client.force_login(users[roles.VIEWER])
    group = world["campaigns.group"]
    url = reverse("admin:campaigns_group_changelist")
    page = client.get(url)
    assert page.status_code == 200 and 'value="action_retry"' not in page.content.decode()
    client.post(url, {"action": "action_retry", "_selected_action": [group.pk]})
    group.refresh_from_db()
    assert group.status == "failed"
    assert client.get(reverse("admin:sites_site_change", args=[world["sites.site"].pk])).status_code == 200
    assert client.post(reverse("admin:sites_site_change", args=[world["sites.site"].pk]),
                       {"name": "renamed"}).status_code == 403


def test_the_admin_turns_away_a_user_without_a_role(users):
    client = Client()
    client.force_login(users[NO_ROLE])
    response = client.get(reverse("admin:campaigns_group_changelist"))
    assert response.status_code == 302 and reverse("admin:login") in response["Location"]
    login = Client().post(reverse("admin:login"), {"username": users[NO_ROLE].username, "password": "pw-for-tests"})
    assert login.status_code == 200, "no session for a user without a role"


def test_staff_by_role_add_a_template_in_the_admin(users):
    client = Client()
    client.force_login(users[roles.STAFF])
    assert client.get(reverse("admin:campaigns_campaigntemplate_add")).status_code == 200
    assert client.get(reverse("admin:campaigns_campaign_add")).status_code == 403, "campaigns come from a spec"


def test_an_admin_action_called_past_the_list_still_asks_the_table(users, world):
    """The admin lists a verb's action only to users the table lets use it; the action itself asks again."""
    from django.core.exceptions import PermissionDenied as Refused

    from campaigns.models import Group

    group_admin = admin.site._registry[Group]
    retry = next(func for func in group_admin.actions if getattr(func, "verb", None) == "retry")
    request = RequestFactory().post("/admin/")
    request.user = users[roles.VIEWER]
    with pytest.raises(Refused, match="needs the operator role"):
        retry(group_admin, request, Group.objects.filter(pk=world["campaigns.group"].pk))
    assert Group.objects.get(pk=world["campaigns.group"].pk).status == "failed"
