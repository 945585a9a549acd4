"""Operator actions: the one place UI, API and admin go through to change state on request.

Each app registers its operator verbs in its ``AppConfig.ready()`` (``register``): per model, the verbs
an operator may call, the role that may call them (a row per verb in ``core.permissions``, which UI, API
and admin ask), the service a verb runs where calling the verb
method is not enough (e.g. retrying a movement also retries its Rucio rule), the errors that mean an
external system did not answer, and the model's UI page. core knows no app: it reads this registry.
Bulk actions apply one verb to every object of a queryset and leave one audit Event summarising the
operation besides each object's own Event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models

from core import permissions
from core.lifecycle import IllegalTransition
from core.models import Event

#: ``service(obj, *, actor, comment)``: performs one verb on ``obj`` and whatever goes with it.
Service = Callable[..., Any]
RolePredicate = Callable[[Any], bool]


@dataclass(frozen=True)
class OperatorActions:
    """The operator verbs of one model, as its app registered them."""

    model: type[models.Model]
    verbs: tuple[str, ...]
    services: Mapping[str, Service] = field(default_factory=dict)
    unavailable: tuple[type[Exception], ...] = ()
    page: tuple[str, str] | None = None  # (URL name, the object's field in the URL)


_REGISTRY: dict[str, OperatorActions] = {}


class UnknownAction(ValueError):
    """The verb is not an operator action of that kind of object."""


class ActionUnavailable(RuntimeError):
    """The action needs an external system that did not answer (e.g. Rucio); nothing was changed."""


def register(model: type[models.Model], verbs: Iterable[str], *, role: RolePredicate,
             services: Mapping[str, Service] | None = None, unavailable: Iterable[type[Exception]] = (),
             page: tuple[str, str] | None = None) -> None:
    """Register the operator verbs of ``model`` (in the order the UI offers them) and the role they need
    (one row per verb in the permission table, ``core.permissions``).

    ``services`` maps a verb to the service that performs it (default: the verb method); ``unavailable``
    lists the exceptions a service raises when an external system did not answer (they become
    ActionUnavailable); ``page`` names the model's UI page. Raises ValueError for a verb that is not in
    the model's ``TRANSITIONS``.
    """
    verbs = tuple(verbs)
    unknown = [verb for verb in verbs if verb not in getattr(model, "TRANSITIONS", {})]
    if unknown:
        raise ValueError(f"{model.__name__} has no transition {', '.join(unknown)}")
    for verb in verbs:
        permissions.grant_one(model, verb, role)
    _REGISTRY[_label(model)] = OperatorActions(model, verbs, dict(services or {}), tuple(unavailable), page)


def registered() -> dict[str, OperatorActions]:
    """Return every model label with its registered operator actions."""
    return dict(_REGISTRY)


def actions_of(obj_or_model: Any) -> OperatorActions | None:
    """Return the registered operator actions of a model (None if it has none)."""
    return _REGISTRY.get(_label(obj_or_model))


def _label(obj_or_model: Any) -> str:
    return obj_or_model._meta.label_lower


def allowed_verbs(obj_or_model: Any) -> tuple[str, ...]:
    """Return the operator verbs of a model, in the order the UI offers them (empty if it has none)."""
    registration = actions_of(obj_or_model)
    return registration.verbs if registration else ()


def verbs_for(obj: models.Model) -> tuple[str, ...]:
    """Return the operator verbs the object's current state allows (the buttons worth offering)."""
    return type(obj).verbs_from(obj.status, allowed_verbs(obj)) if allowed_verbs(obj) else ()


def _call(obj: models.Model, verb: str, *, actor: Any = None, comment: str = "") -> None:
    """Call the verb through the service its app registered for it, or the verb method."""
    registration = _REGISTRY[_label(obj)]
    service = registration.services.get(verb)
    try:
        if service is None:
            getattr(obj, verb)(actor=actor, comment=comment)
        else:
            service(obj, actor=actor, comment=comment)
    except registration.unavailable as exc:
        raise ActionUnavailable(f"{verb} {obj}: {exc}") from exc


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
