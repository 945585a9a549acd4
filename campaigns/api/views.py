"""API of templates, campaigns, stages, steps, groups, jobs, error rules and events.

Views stay thin: state changes go through ``core.actions`` and campaigns
are planned and created by ``campaigns.services``.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.choices import Status
from campaigns.eta import estimate_campaigns
from campaigns.filtersets import (
    CampaignFilterSet,
    CampaignTemplateFilterSet,
    ErrorRuleFilterSet,
    EventFilterSet,
    GroupFilterSet,
    JobFilterSet,
    StageFilterSet,
    StepFilterSet,
)
from campaigns.liveness import liveness
from campaigns.models import (
    ACTIVE_STATES,
    ATTENTION_STATES,
    Campaign,
    CampaignTemplate,
    ErrorRule,
    Group,
    Job,
    Stage,
    Step,
)
from campaigns.progress import campaign_summary
from campaigns.services import ReassignError, create_campaign_from_spec, plan_spec, reassign_site_groups
from core.api.base import ApiViewSet, SpecErrorSerializer, field_errors, with_actions
from core.api.permissions import RolePermission
from core.models import Event
from planning.spec import SpecError

from .serializers import (
    CampaignCreateSerializer,
    CampaignDetailSerializer,
    CampaignSerializer,
    CampaignTemplateSerializer,
    ErrorRuleSerializer,
    EventSerializer,
    GroupSerializer,
    JobDetailSerializer,
    JobSerializer,
    ReassignSerializer,
    SpecSerializer,
    StageSerializer,
    StepSerializer,
)

SPEC_ERROR = OpenApiResponse(
    SpecErrorSerializer,
    description="Invalid spec: every error with its field path (`steps[3].split.query`; `\"\"` for the whole "
                "document). Refused, among others: a spec over 1,000,000 bytes or nested deeper than 20 levels; "
                "a string over its column or Butler limit, or with characters it may not hold (names, "
                "collections, dataset types); a number that is not finite or out of range (`sites[0].share: "
                "nan`); a query that daf_butler's parser does not read as one expression, or with `\"`, `\\`, "
                "`{`, `$`; a pipeline that is not shipped, in the pipelines directory or under an allowed URI "
                "prefix; a tract, visit or band the data does not have (`tract_map.9496`); a step matching no "
                "data; a name or output prefix another campaign has, or whose collections exist at the hub "
                "(docs/campaign-spec.md, Limits).",
)


def count_of(model: Any, fk: str, condition: Q | None = None) -> Coalesce:
    """A correlated COUNT subquery of ``model`` rows pointing at the outer row through ``fk``."""
    rows = model.objects.filter(**{fk: OuterRef("pk")})
    if condition is not None:
        rows = rows.filter(condition)
    counted = rows.order_by().values(fk).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def group_counts(fk: str) -> dict[str, Coalesce]:
    """Annotations of ``GroupCountsMixin``: groups in total, accepted, in flight and waiting for an operator."""
    return {
        "groups_total": count_of(Group, fk),
        "groups_accepted": count_of(Group, fk, Q(status=Status.ACCEPTED)),
        "groups_active": count_of(Group, fk, Q(status__in=ACTIVE_STATES)),
        "groups_attention": count_of(Group, fk, Q(status__in=ATTENTION_STATES)),
    }


def spec_error_response(errors: list[dict[str, str]]) -> Response:
    return Response({"detail": "Invalid spec.", "errors": errors}, status=status.HTTP_400_BAD_REQUEST)


def _spec_errors(exc: Any) -> list[dict[str, str]]:
    return [{"path": error.path, "message": error.message} for error in exc.errors]


class ReadOnlyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    pass


class CampaignTemplateViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin, mixins.DestroyModelMixin,
                              ReadOnlyViewSet):
    """Named, versioned campaign specs. Staff create and change them."""

    queryset = CampaignTemplate.objects.all()
    serializer_class = CampaignTemplateSerializer
    filterset_class = CampaignTemplateFilterSet
    ordering_fields = ["name", "version", "created"]


@with_actions(Campaign)
class CampaignViewSet(mixins.CreateModelMixin, ReadOnlyViewSet):
    """Campaigns with their progress. Staff create them from a spec; operators act on them."""

    queryset = Campaign.objects.select_related("hub", "owner").annotate(
        steps_total=count_of(Step, "campaign"), **group_counts("campaign")
    )
    serializer_class = CampaignSerializer
    filterset_class = CampaignFilterSet
    ordering_fields = ["name", "created", "status", "status_changed_at", "started_at", "finished_at"]

    def get_queryset(self) -> QuerySet:
        if self.action in ("summary", "eta"):  # they aggregate by themselves: no per-row count annotations
            return Campaign.objects.only("pk")
        queryset = super().get_queryset()
        return queryset if self.action == "retrieve" else queryset.defer("spec", "plan")

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        return CampaignDetailSerializer if self.action == "retrieve" else CampaignSerializer

    @extend_schema(
        summary="The campaign's progress",
        description="Group counts by status, per step and per site, submissions made and movements by status "
                    "(`campaigns.progress.campaign_summary`): five aggregate queries whatever the campaign's size.",
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="The summary")},
    )
    @action(detail=True, methods=["get"])
    def summary(self, request: Request, pk: str | None = None) -> Response:
        return Response(campaign_summary(self.get_object().pk))

    @extend_schema(
        summary="The campaign's progress and expected end",
        description="Groups done, running and left, the remaining time with a range (first to third quartile of "
                    "the durations of finished groups of the same step) and the ETA, overall and per site "
                    "(`campaigns.eta`): two queries whatever the campaign's size. Null times: no group has "
                    "finished yet.",
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="The estimate")},
    )
    @action(detail=True, methods=["get"])
    def eta(self, request: Request, pk: str | None = None) -> Response:
        campaign = self.get_object()
        return Response(estimate_campaigns([campaign.pk])[campaign.pk].to_dict())

    @extend_schema(
        summary="Create a campaign from a spec or a template",
        description="Plans the spec and saves the campaign with its stages, steps, groups and movements.",
        request=CampaignCreateSerializer,
        responses={201: CampaignDetailSerializer, 400: SPEC_ERROR},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = CampaignCreateSerializer(data=request.data)
        if not body.is_valid():
            return spec_error_response(field_errors(body.errors))
        template = body.validated_data.get("template")
        spec_text = body.validated_data.get("spec") or template.spec
        try:
            campaign = create_campaign_from_spec(body.validated_data.get("name"), spec_text, template=template,
                                                 owner=request.user)
        except SpecError as exc:
            return spec_error_response(_spec_errors(exc))
        created = self.get_queryset().get(pk=campaign.pk)
        return Response(CampaignDetailSerializer(created).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Plan a spec without saving anything",
        description="Returns the plan as `plan_campaign --json` prints it.",
        request=SpecSerializer,
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="The plan"), 400: SPEC_ERROR},
    )
    @action(detail=False, methods=["post"])
    def plan(self, request: Request) -> Response:
        body = SpecSerializer(data=request.data)
        if not body.is_valid():
            return spec_error_response(field_errors(body.errors))
        try:
            return Response(plan_spec(body.validated_data["spec"]))
        except SpecError as exc:
            return spec_error_response(_spec_errors(exc))


    @extend_schema(
        summary="Reassign a site's groups to another site, re-planning from what exists where",
        description=(
            "`campaigns.services.reassign_site_groups`: the pending groups of `from_site` (offline or draining) "
            "move to `to_site`; outputs `from_site` already made are made again at `to_site` (`mode: remake`) "
            "or moved from `from_site` once it is back (`mode: wait`). With `preview` nothing changes. Returns "
            "the counts and what it costs (groups remade, movements added/updated/cancelled, the site movements "
            "wait for). 400 with `errors: [{path, message}]` when refused (e.g. a site taking no part)."),
        request=ReassignSerializer,
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="What was (or would be) done"),
                   400: SPEC_ERROR},
    )
    @action(detail=True, methods=["post"])
    def reassign(self, request: Request, pk: str | None = None) -> Response:
        campaign = self.get_object()
        body = ReassignSerializer(data=request.data)
        if not body.is_valid():
            return Response({"detail": "Invalid reassignment.", "errors": field_errors(body.errors)},
                            status=status.HTTP_400_BAD_REQUEST)
        data = body.validated_data
        try:
            result = reassign_site_groups(campaign, data["from_site"], data["to_site"], mode=data["mode"],
                                          preview=data["preview"], actor=request.user, comment=data["comment"])
        except ReassignError as exc:
            field, sep, message = str(exc).partition(": ")
            error = {"path": field, "message": message} if sep and " " not in field else {"path": "",
                                                                                          "message": str(exc)}
            return Response({"detail": "Reassignment refused.", "errors": [error]},
                            status=status.HTTP_400_BAD_REQUEST)
        return Response(result)


class StageViewSet(ReadOnlyViewSet):
    """Stages of the campaigns."""

    queryset = Stage.objects.annotate(steps_total=count_of(Step, "stage"))
    serializer_class = StageSerializer
    filterset_class = StageFilterSet
    ordering_fields = ["order", "name"]


@with_actions(Step)
class StepViewSet(ReadOnlyViewSet):
    """Steps of the campaigns, with their group counts. Operators act on them."""

    queryset = Step.objects.select_related("stage").prefetch_related("depends_on").annotate(**group_counts("step"))
    serializer_class = StepSerializer
    filterset_class = StepFilterSet
    ordering_fields = ["order", "name", "status", "status_changed_at"]


@with_actions(Group, bulk=True)
class GroupViewSet(ReadOnlyViewSet):
    """Groups (one BPS submission per attempt). Operators act on one, or in bulk on every group a filter matches."""

    queryset = Group.objects.select_related("step", "site", "error_rule").annotate(jobs_total=count_of(Job, "group"))
    serializer_class = GroupSerializer
    filterset_class = GroupFilterSet
    ordering_fields = ["ordinal", "status", "status_changed_at", "attempts"]


class JobViewSet(ReadOnlyViewSet):
    """Submission attempts of the groups."""

    queryset = Job.objects.select_related("group__step", "group__site")
    serializer_class = JobSerializer
    filterset_class = JobFilterSet
    ordering_fields = ["created", "attempt", "status", "status_changed_at", "submitted_at", "finished_at"]

    def get_queryset(self) -> QuerySet:
        queryset = super().get_queryset()
        return queryset if self.action == "retrieve" else queryset.defer("bps_yaml", "log_tail")

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        return JobDetailSerializer if self.action == "retrieve" else JobSerializer


class ErrorRuleViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin, mixins.DestroyModelMixin,
                       ReadOnlyViewSet):
    """Error rules: what to do when a failure message matches. Staff create and change them."""

    queryset = ErrorRule.objects.annotate(groups_total=count_of(Group, "error_rule"))
    serializer_class = ErrorRuleSerializer
    filterset_class = ErrorRuleFilterSet
    ordering_fields = ["priority", "name"]


class EventViewSet(ReadOnlyViewSet):
    """The event log: every state change and operator action."""

    queryset = Event.objects.select_related("content_type", "actor")
    serializer_class = EventSerializer
    filterset_class = EventFilterSet
    ordering_fields = ["created", "id"]


class LivenessView(APIView):
    """Is the orchestrator alive: the last reconcile tick, the Celery workers and beat (their heartbeats).

    ``stale`` is true (and ``problems`` says why) when no tick ran for MSPROC_TICK_STALE_SECONDS or no
    worker or beat reported for MSPROC_LIVENESS_SECONDS.
    """

    permission_classes = [RolePermission]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        return Response(liveness().as_dict())
