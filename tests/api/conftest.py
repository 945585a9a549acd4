"""API fixtures: a user and a token client per role, and a small world of one of everything."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import Group as RoleGroup
from knox.models import AuthToken
from rest_framework.test import APIClient

from core import roles
from tests.factories import (
    ButlerRepoFactory,
    CampaignTemplateFactory,
    ErrorRuleFactory,
    GroupFactory,
    JobFactory,
    MovementFactory,
    PandaQueueFactory,
    ReplicaFactory,
    SiteFactory,
    UserFactory,
)

ROLE_NAMES = ("anonymous", "no_role", roles.VIEWER, roles.OPERATOR, roles.SITE_ADMIN, roles.STAFF)


def make_user(role: str) -> Any:
    """A user with one role group (``no_role``: authenticated, in no group)."""
    roles.ensure_roles()
    user = UserFactory(username=f"api-{role.replace(' ', '-')}")
    if role in roles.ROLES:
        user.groups.add(RoleGroup.objects.get(name=role))
    return user


def token_client(user: Any | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user=user, expiry=None)[1]}")
    return client


@pytest.fixture
def client_for(db):
    """``client_for(role)``: an API client authenticated by token as a user with that role."""

    def build(role: str) -> APIClient:
        return token_client(None if role == "anonymous" else make_user(role))

    return build


@pytest.fixture
def operator_client(client_for) -> APIClient:
    return client_for(roles.OPERATOR)


@pytest.fixture
def viewer_client(client_for) -> APIClient:
    return client_for(roles.VIEWER)


@dataclass
class World:
    site: Any
    repo: Any
    queue: Any
    replica: Any
    template: Any
    campaign: Any
    step: Any
    group: Any
    job: Any
    movement: Any
    rule: Any

    def ids(self) -> dict[str, Any]:
        return {name: getattr(value, "pk", value) for name, value in vars(self).items()}


@pytest.fixture
def world(db) -> World:
    """One object of every kind: a running campaign with a failed group and a failed movement."""
    site = SiteFactory(code="LANCS")
    repo = ButlerRepoFactory(site=site)
    rule = ErrorRuleFactory()
    group = GroupFactory(status="failed", site=site, error_rule=rule, last_error="MemoryError")
    campaign = group.campaign
    campaign.start()
    return World(
        site=site, repo=repo, queue=PandaQueueFactory(site=site), replica=ReplicaFactory(butler_repo=repo),
        template=CampaignTemplateFactory(), campaign=campaign, step=group.step, group=group,
        job=JobFactory(group=group, status="failed"), movement=MovementFactory(campaign=campaign, status="failed"),
        rule=rule,
    )
