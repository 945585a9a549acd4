"""Every endpoint, every role: who may read, write and act (anonymous 401, wrong role 403)."""

from __future__ import annotations

import pytest

from core import roles

from .conftest import ROLE_NAMES

V, OP, A, S = roles.VIEWER, roles.OPERATOR, roles.SITE_ADMIN, roles.STAFF

LISTS = [
    "sites", "butler-repos", "panda-queues", "dataset-types", "replicas", "campaign-templates", "campaigns",
    "stages", "steps", "groups", "jobs", "movements", "error-rules", "events", "backend-health",
]
DETAILS = [
    ("sites", "site"), ("butler-repos", "repo"), ("panda-queues", "queue"), ("replicas", "replica"),
    ("campaign-templates", "template"), ("campaigns", "campaign"), ("steps", "step"), ("groups", "group"),
    ("jobs", "job"), ("movements", "movement"), ("error-rules", "rule"),
]
# (method, path with {world ids}, body, role needed)
WRITES = [
    ("post", "sites/", {"code": "NEW", "name": "New", "facility": "UKDF", "compute_site": "NEW",
                        "compute_cloud": "EU", "queue_prefix": "NEW", "raw_rse": "R", "butler_rse": "B"}, A),
    ("patch", "sites/{site}/", {"name": "Lancaster"}, A),
    ("post", "sites/{site}/drain/", {"comment": "maintenance"}, A),
    ("post", "sites/{site}/take_offline/", {}, A),
    ("post", "sites/{site}/bring_online/", {}, A),
    ("post", "butler-repos/", {"site": "LANCS", "name": "dr1", "root_uri": "/repo/dr1"}, A),
    ("patch", "butler-repos/{repo}/", {"root_uri": "/repo/elsewhere"}, A),
    ("post", "panda-queues/", {"site": "LANCS", "name": "LANCS_Rubin_Merge", "kind": "merge"}, A),
    ("patch", "panda-queues/{queue}/", {"memory_gb": 16}, A),
    ("delete", "panda-queues/{queue}/", None, A),
    ("post", "campaign-templates/", {"name": "t", "spec": "name: t\n"}, S),
    ("patch", "campaign-templates/{template}/", {"description": "d"}, S),
    ("delete", "campaign-templates/{template}/", None, S),
    ("post", "error-rules/", {"name": "oom", "pattern": "Killed", "action": "retry"}, S),
    ("patch", "error-rules/{rule}/", {"priority": 5}, S),
    ("delete", "error-rules/{rule}/", None, S),
    ("post", "campaigns/", {"spec": "not: a campaign"}, S),
    ("post", "campaigns/plan/", {"spec": "not: a campaign"}, OP),
    *[("post", f"campaigns/{{campaign}}/{verb}/", {}, OP)
      for verb in ("start", "pause", "resume", "reopen", "reject")],
    *[("post", f"steps/{{step}}/{verb}/", {}, OP)
      for verb in ("pause", "resume", "reopen", "force_accept", "reject")],
    *[("post", f"groups/{{group}}/{verb}/", {}, OP)
      for verb in ("retry", "rescue", "force_accept", "reject", "pause", "resume")],
    ("post", "groups/bulk/retry/?status=failed", {}, OP),
    ("post", "movements/{movement}/retry/", {}, OP),
    ("post", "movements/{movement}/cancel/", {}, OP),
    ("post", "movements/bulk/cancel/?status=failed", {}, OP),
]


def allowed(role: str, needed: str) -> bool:
    if role in ("anonymous", "no_role"):
        return False
    return role == S or needed == V or role == needed


def check(response, role: str, needed: str) -> None:
    assert response.status_code < 500, response.content
    if allowed(role, needed):
        assert response.status_code not in (401, 403), response.content
    elif role == "anonymous":
        assert response.status_code == 401
    else:
        assert response.status_code == 403


@pytest.mark.parametrize("role", ROLE_NAMES)
@pytest.mark.parametrize("resource", LISTS)
def test_it_lets_every_role_list_and_nobody_else(world, client_for, role, resource):
    check(client_for(role).get(f"/api/v1/{resource}/"), role, V)


@pytest.mark.parametrize("role", ROLE_NAMES)
@pytest.mark.parametrize(("resource", "name"), DETAILS)
def test_it_lets_every_role_read_one_object(world, client_for, role, resource, name):
    response = client_for(role).get(f"/api/v1/{resource}/{world.ids()[name]}/")
    check(response, role, V)
    if allowed(role, V):
        assert response.status_code == 200


@pytest.mark.parametrize("role", ROLE_NAMES)
@pytest.mark.parametrize(("method", "path", "body", "needed"), WRITES,
                         ids=[f"{m} {p.split('?')[0]}" for m, p, _, _ in WRITES])
def test_it_lets_only_the_right_role_write_or_act(world, client_for, role, method, path, body, needed):
    response = getattr(client_for(role), method)(f"/api/v1/{path.format(**world.ids())}", body, format="json")
    check(response, role, needed)


def test_a_session_login_works_too(world, django_user_model, client):
    from .conftest import make_user

    client.force_login(make_user(V))
    assert client.get("/api/v1/campaigns/").status_code == 200
