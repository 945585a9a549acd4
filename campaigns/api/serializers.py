"""API serializers of templates, campaigns, stages, steps, groups, jobs, error rules and events."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent, build_choice_field
from rest_framework import serializers

from campaigns.choices import Status
from campaigns.models import Campaign, CampaignTemplate, ErrorRule, Group, Job, Stage, Step
from core.api.fields import StrictCharField, StrictModelSerializer
from core.models import Event
from planning.spec import SPEC_MAX_BYTES, SpecError, name_error, parse_spec, size_error
from sites.api.serializers import SiteCodeField
from sites.models import Site


class StatusField(serializers.ChoiceField):
    """The status shared by campaigns, steps, groups and jobs, documented once as the ``StatusEnum`` component."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("read_only", True)
        super().__init__(choices=Status.choices, **kwargs)


class StatusFieldExtension(OpenApiSerializerFieldExtension):
    target_class = StatusField

    def map_serializer_field(self, auto_schema: AutoSchema, direction: Any) -> dict[str, Any]:
        component = ResolvedComponent(name="StatusEnum", type=ResolvedComponent.SCHEMA, object="StatusEnum",
                                      schema=build_choice_field(self.target))
        auto_schema.registry.register_on_missing(component)
        return component.ref


def validate_spec_text(value: str) -> str:
    """Return ``value`` if it is a spec within the size limit; raise ValidationError otherwise."""
    too_big = size_error(value)
    if too_big is not None:
        raise serializers.ValidationError(too_big.message)
    return value


def validate_campaign_name(value: str) -> str:
    """Return ``value`` if it can name a campaign (it becomes part of collection and workflow names)."""
    problem = name_error(value)
    if problem:
        raise serializers.ValidationError(problem)
    return value


class CampaignTemplateSerializer(StrictModelSerializer):
    """A named, versioned spec; its spec is checked as a campaign spec (structure and limits) when saved."""

    spec = StrictCharField(trim_whitespace=False, max_length=SPEC_MAX_BYTES,
                           help_text="Campaign spec YAML (docs/campaign-spec.md).")

    class Meta:
        model = CampaignTemplate
        fields = ["id", "name", "version", "description", "spec", "created"]
        read_only_fields = ["created"]

    def validate_spec(self, value: str) -> str:
        validate_spec_text(value)
        try:
            parse_spec(value)
        except SpecError as exc:
            raise serializers.ValidationError([str(error) for error in exc.errors]) from None
        return value


class GroupCountsMixin(serializers.Serializer):
    """Group counts annotated by the viewset's queryset (see ``campaigns.api.views.group_counts``)."""

    groups_total = serializers.IntegerField(read_only=True)
    groups_accepted = serializers.IntegerField(read_only=True)
    groups_active = serializers.IntegerField(read_only=True, help_text="Prepared, running or blocked.")
    groups_attention = serializers.IntegerField(read_only=True,
                                                help_text="Failed, reviewable, blocked or rescuable.")


class CampaignSerializer(GroupCountsMixin, StrictModelSerializer):
    """A campaign with its progress; status changes through actions."""
    status = StatusField()

    hub = SiteCodeField(read_only=True)
    owner = serializers.CharField(source="owner.username", read_only=True, allow_null=True, default=None)
    steps_total = serializers.IntegerField(read_only=True)

    class Meta:
        model = Campaign
        fields = [
            "id", "name", "status", "status_changed_at", "template", "hub", "output_prefix", "owner", "created",
            "updated", "started_at", "finished_at", "steps_total", "groups_total", "groups_accepted",
            "groups_active", "groups_attention", "tick_error", "tick_error_at",
        ]
        read_only_fields = fields


class CampaignDetailSerializer(CampaignSerializer):
    """A campaign with its frozen spec and plan."""

    class Meta(CampaignSerializer.Meta):
        fields = [*CampaignSerializer.Meta.fields, "spec", "plan"]
        read_only_fields = fields


class CampaignCreateSerializer(serializers.Serializer):
    """Create a campaign from spec YAML, or from a template's spec."""

    name = StrictCharField(required=False, validators=[validate_campaign_name],  # its length: name_error
                           help_text="Defaults to the spec's name. Letters, digits, '_', '.' and '-'; it "
                                     "becomes part of the campaign's collection and workflow names.")
    spec = StrictCharField(required=False, trim_whitespace=False, max_length=SPEC_MAX_BYTES,
                           validators=[validate_spec_text],
                           help_text="Campaign spec YAML (docs/campaign-spec.md); at most 1,000,000 bytes.")
    template = serializers.PrimaryKeyRelatedField(queryset=CampaignTemplate.objects.all(), required=False)

    def validate(self, attrs: dict) -> dict:
        if not attrs.get("spec") and not attrs.get("template"):
            raise serializers.ValidationError("Give a spec or a template.")
        return attrs


class SpecSerializer(serializers.Serializer):
    spec = StrictCharField(trim_whitespace=False, max_length=SPEC_MAX_BYTES, validators=[validate_spec_text],
                           help_text="Campaign spec YAML (docs/campaign-spec.md); at most 1,000,000 bytes.")


class ReassignSerializer(serializers.Serializer):
    """Body of ``POST /campaigns/{id}/reassign/``."""

    from_site = serializers.SlugRelatedField(slug_field="code", queryset=Site.objects.all(),
                                             help_text="The site that is down (offline or draining).")
    to_site = serializers.SlugRelatedField(slug_field="code", queryset=Site.objects.all(),
                                           help_text="An online site taking part in the campaign.")
    mode = serializers.ChoiceField(choices=["remake", "wait"], default="remake",
                                   help_text="Outputs the lost site already made: `remake` them at `to_site`, or "
                                             "`wait` and move them from `from_site` once it is back online.")
    preview = serializers.BooleanField(default=False, help_text="Only say what it would do and cost.")
    comment = StrictCharField(required=False, allow_blank=True, default="", max_length=1000)


class StageSerializer(StrictModelSerializer):
    steps_total = serializers.IntegerField(read_only=True)

    class Meta:
        model = Stage
        fields = ["id", "campaign", "name", "order", "steps_total"]
        read_only_fields = fields


class StepSerializer(GroupCountsMixin, StrictModelSerializer):
    status = StatusField()
    stage_name = serializers.CharField(source="stage.name", read_only=True)

    class Meta:
        model = Step
        fields = [
            "id", "campaign", "stage", "stage_name", "name", "order", "scope", "level", "depends_on", "memory_mb",
            "split", "inputs", "outputs", "status", "status_changed_at", "groups_total", "groups_accepted",
            "groups_active", "groups_attention",
        ]
        read_only_fields = fields


class GroupSerializer(StrictModelSerializer):
    status = StatusField()
    step_name = serializers.CharField(source="step.name", read_only=True)
    site = SiteCodeField(read_only=True)
    error_rule_name = serializers.CharField(source="error_rule.name", read_only=True, allow_null=True, default=None)
    jobs_total = serializers.IntegerField(read_only=True)

    class Meta:
        model = Group
        fields = [
            "id", "campaign", "step", "step_name", "site", "ordinal", "data_query", "data_ids", "status",
            "status_changed_at", "attempts", "auto_retries", "last_error", "error_rule", "error_rule_name",
            "jobs_total",
        ]
        read_only_fields = fields


class JobSerializer(StrictModelSerializer):
    status = StatusField()
    campaign = serializers.IntegerField(source="group.campaign_id", read_only=True)
    step_name = serializers.CharField(source="group.step.name", read_only=True)
    site = serializers.CharField(source="group.site.code", read_only=True)

    class Meta:
        model = Job
        fields = [
            "id", "group", "campaign", "step_name", "site", "attempt", "backend", "workflow_name", "rescue",
            "external_ids", "submit_dir", "run_collection", "status", "status_changed_at", "quanta_expected",
            "quanta_succeeded", "quanta_failed", "created", "submitted_at", "finished_at", "log_path", "error",
            "error_rule",
        ]
        read_only_fields = fields


class JobDetailSerializer(JobSerializer):
    """A job with its BPS submit YAML and the tail of its log."""

    class Meta(JobSerializer.Meta):
        fields = [*JobSerializer.Meta.fields, "bps_yaml", "log_tail"]
        read_only_fields = fields


class ErrorRuleSerializer(StrictModelSerializer):
    groups_total = serializers.IntegerField(read_only=True, default=0,
                                            help_text="Groups whose failure this rule matched.")

    class Meta:
        model = ErrorRule
        fields = ["id", "name", "pattern", "action", "priority", "max_retries", "enabled", "description",
                  "groups_total"]

    def validate_pattern(self, value: str) -> str:
        problem = ErrorRule.pattern_error(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value


class EventSerializer(StrictModelSerializer):
    subject_type = serializers.CharField(source="content_type.model", read_only=True,
                                         help_text="campaign, step, group, job, movement, site, butlerrepo ...")
    actor = serializers.CharField(source="actor.username", read_only=True, allow_null=True, default=None)

    class Meta:
        model = Event
        fields = ["id", "subject_type", "object_id", "object_repr", "campaign", "verb", "from_status",
                  "to_status", "actor", "comment", "created"]
        read_only_fields = fields
