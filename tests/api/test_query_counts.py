"""List endpoints fetch related objects without N+1: the query count is pinned and does not grow with rows."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import (
    ButlerRepoFactory,
    CampaignTemplateFactory,
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
)


def _movement(world):
    movement = MovementFactory(campaign=world.campaign)
    movement.sources.set([world.site])
    movement.dataset_types.set([DatasetTypeFactory()])
    movement.after_steps.set([world.step])


MAKERS = {
    "sites": lambda world: SiteFactory(),
    "butler-repos": lambda world: ButlerRepoFactory(),
    "panda-queues": lambda world: PandaQueueFactory(),
    "dataset-types": lambda world: DatasetTypeFactory(),
    "replicas": lambda world: ReplicaFactory(),
    "campaign-templates": lambda world: CampaignTemplateFactory(),
    "campaigns": lambda world: GroupFactory().campaign,
    "stages": lambda world: StageFactory(),
    "steps": lambda world: StepFactory(),
    "groups": lambda world: GroupFactory(error_rule=world.rule),
    "jobs": lambda world: JobFactory(),
    "movements": _movement,
    "error-rules": lambda world: ErrorRuleFactory(),
    "events": lambda world: GroupFactory(status="failed").retry(actor=None),
}
# Token with its user (1), role groups (1), COUNT (1), page (1), then one per prefetched relation.
PINNED = {
    "sites": 4, "butler-repos": 4, "panda-queues": 4, "dataset-types": 4, "replicas": 4,
    "campaign-templates": 4, "campaigns": 4, "stages": 4, "steps": 5, "groups": 4, "jobs": 4,
    "movements": 7, "error-rules": 4, "events": 4,
}


@pytest.mark.parametrize("resource", sorted(MAKERS))
def test_a_list_page_costs_a_fixed_number_of_queries(world, viewer_client, resource, django_assert_num_queries):
    url = f"/api/v1/{resource}/"
    for _ in range(3):
        MAKERS[resource](world)
    with CaptureQueriesContext(connection) as few:
        assert viewer_client.get(url).status_code == 200
    for _ in range(6):
        MAKERS[resource](world)
    with django_assert_num_queries(PINNED[resource]):
        response = viewer_client.get(url)
    assert response.status_code == 200
    assert len(few.captured_queries) == PINNED[resource]
