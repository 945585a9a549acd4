"""factory_boy factories: a test names only what matters to it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from campaigns.models import Campaign, CampaignTemplate, ErrorRule, Group, Heartbeat, Job, Stage, StallThreshold, Step
from core.models import Event
from sites.models import BackendHealth, ButlerRepo, PandaQueue, Site
from transfers.models import DatasetType, Movement, Replica


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-for-tests")


class SiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Site
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"SITE{n}")
    name = factory.LazyAttribute(lambda o: f"Site {o.code}")
    facility = "USDF"
    compute_site = factory.LazyAttribute(lambda o: o.code)
    compute_cloud = "US"
    queue_prefix = factory.LazyAttribute(lambda o: o.code)
    raw_rse = factory.LazyAttribute(lambda o: f"{o.code}_RAW_DISK")
    butler_rse = factory.LazyAttribute(lambda o: f"{o.code}_BUTLER_DISK")
    share = Decimal("0.25")


class ButlerRepoFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ButlerRepo

    site = factory.SubFactory(SiteFactory)
    name = "dp2"
    root_uri = factory.LazyAttribute(lambda o: f"/tmp/sites/{o.site.code}/dp2")


class PandaQueueFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PandaQueue

    site = factory.SubFactory(SiteFactory)
    name = factory.Sequence(lambda n: f"QUEUE_{n}_Rubin_8G")
    memory_gb = 8


class DatasetTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DatasetType
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"dataset_type_{n}")
    dimensions = ["instrument", "visit", "detector"]
    storage_class = "StructuredDataDict"


class CampaignTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CampaignTemplate

    name = factory.Sequence(lambda n: f"template{n}")
    spec = "name: example\n"


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"campaign{n}")
    spec = "name: example\n"
    hub = factory.SubFactory(SiteFactory, code="HUB", is_hub=True)
    output_prefix = factory.LazyAttribute(lambda o: f"u/msproc/{o.name}")


class StageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Stage

    campaign = factory.SubFactory(CampaignFactory)
    name = factory.Sequence(lambda n: f"stage{n}")
    order = factory.Sequence(lambda n: n)


class StepFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Step

    stage = factory.SubFactory(StageFactory)
    campaign = factory.SelfAttribute("stage.campaign")
    name = factory.Sequence(lambda n: f"step{n}")
    order = factory.Sequence(lambda n: n)


class ErrorRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ErrorRule

    name = factory.Sequence(lambda n: f"rule{n}")
    pattern = "MemoryError"
    action = "retry"


class GroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Group

    step = factory.SubFactory(StepFactory)
    campaign = factory.SelfAttribute("step.campaign")
    site = factory.SelfAttribute("step.campaign.hub")
    ordinal = factory.Sequence(lambda n: n)
    data_query = "instrument='MockCam'"


class JobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Job

    group = factory.SubFactory(GroupFactory)
    attempt = factory.Sequence(lambda n: n + 1)
    backend = "local"
    workflow_name = factory.LazyAttribute(lambda o: f"msproc-g{o.group.pk}-a{o.attempt}")
    run_collection = factory.LazyAttribute(lambda o: f"u/msproc/out/run/attempt{o.attempt}")


class MovementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Movement

    campaign = factory.SubFactory(CampaignFactory)
    key = factory.Sequence(lambda n: f"movement-{n}")
    kind = "fan_in"
    destination = factory.SelfAttribute("campaign.hub")


class ReplicaFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Replica

    butler_repo = factory.SubFactory(ButlerRepoFactory)
    dataset_type = factory.SubFactory(DatasetTypeFactory)
    collection = "MockCam/raw/all"
    count = 10


__all__ = [
    "ButlerRepoFactory", "CampaignFactory", "CampaignTemplateFactory", "DatasetTypeFactory", "ErrorRuleFactory",
    "Event", "GroupFactory", "JobFactory", "MovementFactory", "PandaQueueFactory", "ReplicaFactory", "SiteFactory",
    "StageFactory", "StepFactory", "UserFactory",
]


class BackendHealthFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BackendHealth

    kind = "execution"
    backend = factory.Sequence(lambda n: f"backend{n}")
    operation = "poll"
    last_error = "Connection refused"
    failures = 1
    first_failure_at = factory.LazyFunction(timezone.now)
    last_failure_at = factory.SelfAttribute("first_failure_at")


class HeartbeatFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Heartbeat

    kind = "worker"
    name = factory.Sequence(lambda n: f"celery@worker{n}")
    pid = 4242


class StallThresholdFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StallThreshold
        django_get_or_create = ("kind", "status")

    kind = "group"
    status = "running"
    after = timedelta(hours=6)
