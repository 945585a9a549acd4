"""Fixtures of the UI tests: users in each role and a campaign of any size."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group as Role
from django.test import Client
from django.utils import timezone

from campaigns.choices import Status
from campaigns.models import ErrorRule
from core.roles import OPERATOR, SITE_ADMIN, STAFF, VIEWER
from tests.factories import (
    ButlerRepoFactory,
    CampaignFactory,
    DatasetTypeFactory,
    ErrorRuleFactory,
    GroupFactory,
    JobFactory,
    MovementFactory,
    PandaQueueFactory,
    ReplicaFactory,
    SiteFactory,
    StageFactory,
    StepFactory,
    UserFactory,
)


def _user_in(role: str):
    user = UserFactory(username=f"{role.replace(' ', '_')}-user")
    user.groups.add(Role.objects.get_or_create(name=role)[0])
    return user


@pytest.fixture
def viewer(db):
    return _user_in(VIEWER)


@pytest.fixture
def operator(db):
    return _user_in(OPERATOR)


@pytest.fixture
def site_admin(db):
    return _user_in(SITE_ADMIN)


@pytest.fixture
def staff(db):
    """A user in the staff group (not ``is_staff``: the role, not Django's flag)."""
    return _user_in(STAFF)


@pytest.fixture
def staff_client(staff):
    client = Client()
    client.force_login(staff)
    return client


@pytest.fixture
def viewer_client(viewer):
    client = Client()
    client.force_login(viewer)
    return client


@pytest.fixture
def operator_client(operator):
    client = Client()
    client.force_login(operator)
    return client


def build_world(n: int):
    """Return a running campaign with two steps at two sites, ``n`` groups (each with a job),
    ``n`` movements over one link, replicas, queues and events: every page has rows to show."""
    campaign = CampaignFactory(status=Status.RUNNING)
    hub = campaign.hub
    other = SiteFactory(code="OTHER")
    for site in (hub, other):
        if not site.butler_repos.exists():
            ButlerRepoFactory(site=site)
        PandaQueueFactory(site=site)
    dataset_type = DatasetTypeFactory(name="raw")
    ReplicaFactory(butler_repo=hub.butler_repos.first(), dataset_type=dataset_type, collection=f"{campaign.name}/raw")
    stage = StageFactory(campaign=campaign, name="stage1", order=1)
    step1 = StepFactory(stage=stage, name="step1", order=1, status=Status.RUNNING)
    step2 = StepFactory(stage=stage, name="step2a", order=2)
    step2.depends_on.add(step1)
    rule = ErrorRule.objects.filter(name="out of memory").first() or ErrorRuleFactory(name="out of memory")
    now = timezone.now()
    statuses = [Status.FAILED, Status.ACCEPTED, Status.RUNNING, Status.WAITING]
    for i in range(n):
        status = statuses[i % len(statuses)]
        group = GroupFactory(step=step1 if i % 2 else step2, site=hub if i % 3 else other, status=status,
                             error_rule=rule if status == Status.FAILED and i % 8 else None,
                             last_error="MemoryError" if status == Status.FAILED else "",
                             status_changed_at=now - timedelta(days=2))
        JobFactory(group=group, status=Status.ACCEPTED if status == Status.ACCEPTED else Status.RUNNING,
                   finished_at=now - timedelta(hours=i % 5) if status == Status.ACCEPTED else None,
                   quanta_expected=10, quanta_succeeded=10, log_tail="done\n", bps_yaml="pipelineYaml: x\n")
        movement = MovementFactory(campaign=campaign, destination=hub, before_step=step2,
                                   status="failed" if i % 2 else "transferring",
                                   status_changed_at=now - timedelta(days=1))
        movement.sources.add(other)
        movement.dataset_types.add(dataset_type)
        movement.after_steps.add(step1)
    campaign.pause(comment="pause for the event log")
    campaign.resume(comment="and back")
    if hub.status == "online":
        hub.drain(comment="maintenance")
    return campaign
