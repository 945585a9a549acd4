"""Operator actions: the one place UI, API and admin go through to change state on request.

Each action is a verb method of a model listed in ``OPERATOR_VERBS``; bulk
actions apply one verb to every object of a queryset and leave one audit
Event summarising the operation besides each object's own Event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models

from core.lifecycle import IllegalTransition
from core.models import Event

# Verbs an operator may call, per model label ("app_label.ModelName" lower-case model name).
OPERATOR_VERBS: dict[str, frozenset[str]] = {
    "campaigns.campaign": frozenset({"start", "pause", "resume", "reopen", "reject"}),
    "campaigns.step": frozenset({"pause", "resume", "reopen", "force_accept", "reject"}),
    "campaigns.group": frozenset({"retry", "rescue", "force_accept", "reject", "pause", "resume"}),
    "transfers.movement": frozenset({"retry", "cancel"}),
    "sites.site": frozenset({"drain", "take_offline", "bring_online"}),
}


class UnknownAction(ValueError):
    """The verb is not an operator action of that kind of object."""


class ActionUnavailable(RuntimeError):
    """The action needs an external system that did not answer (e.g. Rucio); nothing was changed."""


def _call(obj: models.Model, verb: str, *, actor: Any = None, comment: str = "") -> None:
    """Call the verb, through the service that also acts on the backend where there is one
    (retrying or cancelling a movement retries or deletes its Rucio rule; giving up on a group's
    live attempt, or rejecting its step or campaign, cancels the attempt at its execution backend)."""
    label = _label(obj)
    if label == "campaigns.group" and verb in {"retry", "force_accept", "reject"}:
        from campaigns import services

        services.act_on_group(obj, verb, actor=actor, comment=comment)
    elif label in {"campaigns.campaign", "campaigns.step"} and verb == "reject":
        from campaigns import services

        services.reject_with_attempts(obj, actor=actor, comment=comment)
    elif label == "transfers.movement" and verb in {"retry", "cancel"}:
        from transfers import services
        from transfers.backends import TransferBackendError

        service = services.retry_movement if verb == "retry" else services.cancel_movement
        try:
            service(obj, actor=actor, comment=comment)
        except TransferBackendError as exc:
            raise ActionUnavailable(f"{verb} {obj}: {exc}") from exc
    else:
        getattr(obj, verb)(actor=actor, comment=comment)


def _label(obj_or_model: Any) -> str:
    meta = obj_or_model._meta
    return f"{meta.app_label}.{meta.model_name}"


def allowed_verbs(obj_or_model: Any) -> frozenset[str]:
    """Return the operator verbs of a model (empty if it has none)."""
    return OPERATOR_VERBS.get(_label(obj_or_model), frozenset())


def perform(obj: models.Model, verb: str, *, actor: Any = None, comment: str = "") -> models.Model:
    """Call ``verb`` on ``obj`` as an operator and return the object in its new state.

    Raises UnknownAction for a verb that is not an operator action of this
    kind of object, IllegalTransition when the object's state refuses it, and
    ActionUnavailable when an external system it needs did not answer.
    """
    if verb not in allowed_verbs(obj):
        raise UnknownAction(f"{verb!r} is not an action on {obj._meta.verbose_name}")
    _call(obj, verb, actor=actor, comment=comment)
    return obj


@dataclass
class BulkResult:
    """How many objects a bulk action moved, and why the others were refused."""

    verb: str
    matched: int = 0
    touched: int = 0
    refused: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"verb": self.verb, "matched": self.matched, "touched": self.touched, "refused": self.refused}


def perform_bulk(queryset: models.QuerySet, verb: str, *, actor: Any = None, comment: str = "",
                 description: str = "") -> BulkResult:
    """Apply ``verb`` to every object of ``queryset``; one audit Event records the whole operation.

    Objects whose state refuses the verb are counted in ``refused`` and left
    as they are. Raises UnknownAction for a verb that is not an operator action.
    """
    if verb not in allowed_verbs(queryset.model):
        raise UnknownAction(f"{verb!r} is not an action on {queryset.model._meta.verbose_name}")
    result = BulkResult(verb=verb)
    for obj in queryset.iterator(chunk_size=500):
        result.matched += 1
        try:
            _call(obj, verb, actor=actor, comment=comment)
            result.touched += 1
        except IllegalTransition as exc:
            result.refused.append({"id": obj.pk, "status": exc.current})
        except ActionUnavailable as exc:  # e.g. Rucio unreachable: left as it was
            result.refused.append({"id": obj.pk, "status": obj.status, "error": str(exc)})
    summary = f"bulk {verb}: {result.touched} of {result.matched}" + (f" ({description})" if description else "")
    Event.objects.create(
        content_type=ContentType.objects.get_for_model(queryset.model),
        object_id=0,
        object_repr=f"bulk {queryset.model._meta.verbose_name_plural}",
        verb=f"bulk_{verb}",
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        comment=f"{summary}: {comment}" if comment else summary,
    )
    return result
