"""What every msproc API viewset shares: roles, documented error responses, operator actions.

Operator actions (registered per model in ``core.actions``) become one POST
route per verb (``/groups/{id}/retry/``) answering 202 with the new state, or
409 when the object's state refuses the verb. Bulk actions apply a verb to
every object matching the list filters (``/groups/bulk/retry/?status=failed``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import models
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404
from rest_framework.request import Request
from rest_framework.response import Response

from core.actions import ActionUnavailable, UnknownAction, actions_of, allowed_verbs, perform, perform_bulk
from core.api.fields import StrictCharField
from core.api.permissions import RolePermission
from core.lifecycle import IllegalTransition


class ErrorSerializer(serializers.Serializer):
    """The body of 401, 403, 404 and other errors without field details."""

    detail = serializers.CharField()


class FieldErrorSerializer(serializers.Serializer):
    path = serializers.CharField(help_text="Field path, e.g. steps[3].split.max_size ('' for the whole document).")
    message = serializers.CharField()


class SpecErrorSerializer(serializers.Serializer):
    """400 of spec endpoints: every problem with its field path."""

    detail = serializers.CharField()
    errors = FieldErrorSerializer(many=True, required=False, help_text="Absent when the body is not JSON.")


class CommentSerializer(serializers.Serializer):
    comment = StrictCharField(required=False, allow_blank=True, max_length=2000, default="",
                              help_text="Why: kept in the event log.")


class TransitionResultSerializer(serializers.Serializer):
    """202 of an action: the object's new state."""

    id = serializers.IntegerField()
    verb = serializers.CharField()
    status = serializers.CharField()
    status_changed_at = serializers.DateTimeField()


class IllegalTransitionSerializer(serializers.Serializer):
    """409 of an action: the state refuses the verb."""

    detail = serializers.CharField()
    verb = serializers.CharField()
    current = serializers.CharField(help_text="The status found in the database.")
    allowed = serializers.ListField(child=serializers.CharField(), help_text="Statuses the verb may leave.")


class RefusedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()


class BulkResultSerializer(serializers.Serializer):
    """202 of a bulk action: how many objects matched the filter and how many moved."""

    verb = serializers.CharField()
    matched = serializers.IntegerField()
    touched = serializers.IntegerField()
    refused = RefusedSerializer(many=True)


ERROR = OpenApiResponse(ErrorSerializer, description="Error")
VALIDATION_ERROR = OpenApiResponse(OpenApiTypes.OBJECT, description="Invalid input: field name -> messages")
BULK_REFUSED = OpenApiResponse(
    OpenApiTypes.OBJECT,
    description=("Refused, nothing changed: parameter name -> messages. Each parameter that is not a filter of "
                 "the list (`page_size`, `ordering`, a misspelt filter such as `campaign_id`) is named; "
                 "`non_field_errors` when no filter applied; `verb` for an unknown verb; a filter's name for an "
                 "invalid value."),
)


class ApiSchema(AutoSchema):
    """AutoSchema that documents the error responses every endpoint can give (400/401/403/404)."""

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        errors: dict[str, OpenApiResponse] = {
            "401": OpenApiResponse(ErrorSerializer, description="Not authenticated"),
            "403": OpenApiResponse(ErrorSerializer, description="Authenticated without the role this needs"),
            "404": OpenApiResponse(ErrorSerializer, description="No such object (or page)"),
        }
        if self.method != "GET" or self._is_list_view():
            errors["400"] = VALIDATION_ERROR
        for code, response in errors.items():
            if code not in responses:
                responses[code] = self._get_response_for_code(response, code, direction=direction)
        return responses


def field_errors(errors: Any, prefix: str = "") -> list[dict[str, str]]:
    """Flatten DRF validation errors into ``[{"path", "message"}]``."""
    if isinstance(errors, dict):
        return [item for key, value in errors.items()
                for item in field_errors(value, f"{prefix}.{key}" if prefix else str(key))]
    if isinstance(errors, list):
        flat: list[dict[str, str]] = []
        for index, value in enumerate(errors):
            if isinstance(value, dict | list):
                flat += field_errors(value, f"{prefix}[{index}]")
            else:
                flat.append({"path": "" if prefix == "non_field_errors" else prefix, "message": str(value)})
        return flat
    return [{"path": prefix, "message": str(errors)}]


class ApiViewSet(viewsets.GenericViewSet):
    """Base of msproc viewsets: the permission table decides (``core.api.permissions``), documented errors."""

    permission_classes = [RolePermission]
    schema = ApiSchema()
    # Any id reaches the view, so a malformed one is a JSON 404 from DRF rather than the site's HTML 404.
    lookup_value_regex = "[^/]+"
    #: A unique field that also names an object in its URL (a site's ``code``): used for a value not all digits.
    alternate_key: str | None = None

    def lookup(self, value: Any) -> dict[str, Any]:
        """Return the filter finding the object named ``value`` in a URL: its id, or its ``alternate_key``."""
        if self.alternate_key and not str(value).isdigit():
            return {self.alternate_key: value}
        return {self.lookup_field: value}

    def get_object(self) -> models.Model:
        """The object of a detail route, by `lookup`; Http404 if there is none, PermissionDenied if not allowed."""
        queryset = self.filter_queryset(self.get_queryset())
        obj = get_object_or_404(queryset, **self.lookup(self.kwargs[self.lookup_url_kwarg or self.lookup_field]))
        self.check_object_permissions(self.request, obj)
        return obj


def _transition(viewset: ApiViewSet, request: Request, verb: str, pk: Any) -> Response:
    model = viewset.get_queryset().model
    obj = get_object_or_404(model.objects.all(), **viewset.lookup(pk))
    viewset.check_object_permissions(request, obj)
    body = CommentSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    try:
        perform(obj, verb, actor=request.user, comment=body.validated_data["comment"])
    except IllegalTransition as exc:
        return Response({"detail": str(exc), "verb": verb, "current": exc.current, "allowed": exc.allowed},
                        status=status.HTTP_409_CONFLICT)
    except ActionUnavailable as exc:
        return Response({"detail": str(exc)}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
    result = {"id": obj.pk, "verb": verb, "status": obj.status, "status_changed_at": obj.status_changed_at}
    return Response(TransitionResultSerializer(result).data, status=status.HTTP_202_ACCEPTED)


def transition_action(model: type[models.Model], verb: str) -> Callable:
    """Return the ``@action`` of one operator verb: ``POST /{kind}/{id}/{verb}/``."""
    if verb not in allowed_verbs(model):
        raise ValueError(f"{verb} is not an operator verb of {model._meta.label_lower}")

    def handler(self: ApiViewSet, request: Request, pk: Any = None) -> Response:
        return _transition(self, request, verb, pk)

    handler.__name__ = verb
    handler.__doc__ = f"Call `{verb}` on the object (an operator action, recorded in the event log)."
    kind = model._meta.model_name
    handler = extend_schema(
        operation_id=f"{kind}s_{verb}",
        summary=f"{verb.replace('_', ' ').capitalize()} the {kind}",
        request=CommentSerializer,
        responses={
            202: TransitionResultSerializer,
            409: OpenApiResponse(IllegalTransitionSerializer, description="The object's state refuses the verb"),
            503: OpenApiResponse(description="An external system the action needs (e.g. Rucio) did not answer"),
        },
    )(handler)
    return action(detail=True, methods=["post"], url_path=verb, url_name=verb.replace("_", "-"))(handler)


def with_actions(model: type[models.Model], *, bulk: bool = False) -> Callable[[type], type]:
    """Class decorator: add a POST action per operator verb of the model (and ``bulk``), each needing the
    permission table's row of its verb (the role registered with the model's operator actions)."""
    registration = actions_of(model)
    if registration is None:
        raise ValueError(f"{model._meta.label_lower} has no registered operator actions")

    def decorate(viewset: type[ApiViewSet]) -> type[ApiViewSet]:
        for verb in sorted(registration.verbs):
            setattr(viewset, verb, transition_action(model, verb))
        if bulk:
            # The bulk guard asks the filterset what it applied (SearchFilterSet.bulk_errors).
            if not hasattr(viewset.filterset_class, "bulk_errors"):
                raise TypeError(f"{viewset.__name__}: a bulk action needs a SearchFilterSet")
            viewset.bulk = bulk_action(model)  # type: ignore[attr-defined]
        return viewset

    return decorate


def bulk_action(model: type[models.Model]) -> Callable:
    """Return ``POST /{kind}/bulk/{verb}/?<list filters>``: one verb on every object the filters match."""
    verbs = sorted(allowed_verbs(model))
    kind = model._meta.model_name

    @extend_schema(
        operation_id=f"{kind}s_bulk",
        summary=f"Apply an operator action to every {kind} matching the filters",
        description=("Takes the list's filter parameters and nothing else. Refused with 400, naming the "
                     "parameters, when a parameter is not one of the list's filters (including `page`, "
                     "`page_size` and `ordering`: a bulk action acts on every match) or when no filter applied "
                     "(every value empty). One audit event records the whole operation; objects whose state "
                     "refuses the verb are counted in `refused`."),
        filters=True,
        parameters=[OpenApiParameter("verb", str, OpenApiParameter.PATH, enum=verbs)],
        request=CommentSerializer,
        responses={202: BulkResultSerializer, 400: BULK_REFUSED},
    )
    @action(detail=False, methods=["post"], url_path=r"bulk/(?P<verb>[^/]+)", url_name="bulk")
    def bulk(self: ApiViewSet, request: Request, verb: str) -> Response:
        if verb not in verbs:
            return Response({"verb": [f"Use one of: {', '.join(verbs)}."]}, status=status.HTTP_400_BAD_REQUEST)
        model: type[models.Model] = self.get_queryset().model
        filterset = self.filterset_class(request.query_params, queryset=model.objects.all(), request=request)
        if errors := filterset.bulk_errors():
            return Response(errors, status=status.HTTP_400_BAD_REQUEST)
        body = CommentSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        result = perform_bulk(filterset.qs.order_by("pk"), verb, actor=request.user,
                              comment=body.validated_data["comment"],
                              description=request.query_params.urlencode()[:500])
        return Response(BulkResultSerializer(result.as_dict()).data, status=status.HTTP_202_ACCEPTED)

    return bulk


__all__ = [
    "ApiSchema", "ApiViewSet", "BulkResultSerializer", "CommentSerializer", "ErrorSerializer",
    "IllegalTransitionSerializer", "SpecErrorSerializer", "TransitionResultSerializer", "UnknownAction",
    "bulk_action", "field_errors", "transition_action", "with_actions",
]
