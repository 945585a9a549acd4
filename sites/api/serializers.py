"""API serializers of sites, Butler repositories and PanDA queues."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from core.api.fields import StrictModelSerializer
from sites.models import BackendHealth, ButlerRepo, PandaQueue, Site
from sites.services import failing_since


class RefusesReadOnlyInput(StrictModelSerializer):
    """A serializer that refuses (400, by field) a write changing a read-only field, such as a status that
    changes only through its verbs, rather than silently ignoring it. Echoing a field's current value
    back (a PUT of what a GET returned) is accepted."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        given = self.initial_data if isinstance(self.initial_data, dict) else {}
        current = self.to_representation(self.instance) if self.instance is not None else {}
        errors = {
            name: [f"Read-only{self.read_only_reasons.get(name, '')}."]
            for name, field in self.fields.items()
            if field.read_only and name in given and name != "id" and given[name] != current.get(name)
        }
        if errors:
            raise serializers.ValidationError(errors)
        return super().validate(attrs)

    read_only_reasons: dict[str, str] = {}


class SiteSerializer(RefusesReadOnlyInput):
    """A site; its status changes only through actions (drain, take_offline, bring_online)."""

    read_only_reasons = {
        "status": ": it changes only through the actions drain, take_offline and bring_online",
        "status_changed_at": ": set by the actions that change the status",
    }

    class Meta:
        model = Site
        fields = [
            "id", "code", "name", "facility", "compute_site", "compute_cloud", "queue_prefix", "raw_rse",
            "butler_rse", "share", "is_hub", "status", "status_changed_at", "execution_backend",
            "transfer_backend",
        ]
        read_only_fields = ["status", "status_changed_at"]

    def validate_is_hub(self, value: bool) -> bool:
        if value and Site.objects.filter(is_hub=True).exclude(pk=getattr(self.instance, "pk", None)).exists():
            raise serializers.ValidationError("Another site is the hub already.")
        return value


class SiteCodeField(serializers.SlugRelatedField):
    """A site by its code."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("slug_field", "code")
        if not kwargs.get("read_only"):
            kwargs.setdefault("queryset", Site.objects.all())
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Site:
        if "\x00" in str(data):
            self.fail("invalid")
        return super().to_internal_value(data)


class ButlerRepoSerializer(RefusesReadOnlyInput):
    """A site's Butler repository; its status is driven by the site services."""

    read_only_reasons = {
        "status": ": the site services move it (manage.py setup_sites)",
        "status_changed_at": ": set when the status changes",
        "last_error": ": written when creating the repository fails",
    }

    site = SiteCodeField()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        probe = ButlerRepo(pk=getattr(self.instance, "pk", None),
                           root_uri=attrs.get("root_uri", getattr(self.instance, "root_uri", "")))
        problem = probe.root_overlap_error()
        if problem:
            raise serializers.ValidationError({"root_uri": [problem]})
        return attrs

    class Meta:
        model = ButlerRepo
        fields = ["id", "site", "name", "root_uri", "registry_url", "status", "status_changed_at", "last_error"]
        read_only_fields = ["status", "status_changed_at", "last_error"]


class PandaQueueSerializer(StrictModelSerializer):
    site = SiteCodeField()

    class Meta:
        model = PandaQueue
        fields = ["id", "site", "name", "memory_gb", "kind"]


class BackendHealthSerializer(StrictModelSerializer):
    """The failures of a backend's service as the workers met them (read-only); ``failing`` if recent."""

    failing = serializers.SerializerMethodField()

    class Meta:
        model = BackendHealth
        fields = ["id", "kind", "backend", "operation", "last_error", "failures", "first_failure_at",
                  "last_failure_at", "failing"]
        read_only_fields = fields

    def get_failing(self, obj: BackendHealth) -> bool:
        return obj.last_failure_at >= failing_since()
