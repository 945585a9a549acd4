"""API serializers of dataset types, replicas and movements."""

from __future__ import annotations

from rest_framework import serializers

from core.api.fields import StrictModelSerializer
from sites.api.serializers import SiteCodeField
from transfers.models import DatasetType, Movement, Replica


class DatasetTypeSerializer(StrictModelSerializer):
    class Meta:
        model = DatasetType
        fields = ["id", "name", "dimensions", "storage_class"]


class ReplicaSerializer(StrictModelSerializer):
    """How many datasets of a type a collection holds in a site's Butler repository."""

    site = serializers.CharField(source="butler_repo.site.code", read_only=True)
    repo_name = serializers.CharField(source="butler_repo.name", read_only=True)
    dataset_type = serializers.CharField(source="dataset_type.name", read_only=True)

    class Meta:
        model = Replica
        fields = ["id", "butler_repo", "site", "repo_name", "dataset_type", "collection", "count", "bytes",
                  "updated"]
        read_only_fields = fields


class MovementSerializer(StrictModelSerializer):
    """Data moving between sites; its status changes through actions (retry, cancel) and the reconciler."""

    sources = SiteCodeField(many=True, read_only=True)
    destination = SiteCodeField(read_only=True)
    dataset_types = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)
    before_step_name = serializers.CharField(source="before_step.name", read_only=True, allow_null=True,
                                             default=None)

    class Meta:
        model = Movement
        fields = [
            "id", "campaign", "key", "kind", "sources", "destination", "dataset_types", "collections", "data_ids",
            "before_step", "before_step_name", "after_steps", "expected_count", "transferred_count",
            "ingested_count", "bytes", "external_ids", "attempts", "last_error", "status", "status_changed_at",
            "created", "updated", "started_at", "finished_at",
        ]
        read_only_fields = fields
