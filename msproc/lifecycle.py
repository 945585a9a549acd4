"""Lifecycles as verb methods: the shared machinery behind every state machine.

A model with a lifecycle subclasses ``StatefulModel`` and exposes one verb
method per transition (``start()``, ``fail()``, ``retry()`` ...). Each verb
calls ``_transition`` with the states it may leave and the state it enters.
The move is a conditional UPDATE (``WHERE pk = .. AND status IN (..)``), so of
two workers trying the same move exactly one wins; the loser gets
``IllegalTransition``. Every successful move writes an ``Event`` row in the
same database transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.apps import apps
from django.db import models, transaction
from django.utils import timezone


class IllegalTransition(Exception):
    """A verb was called on an object whose status does not allow it.

    ``current`` is the status found in the database (it may differ from the
    in-memory one when another worker moved the object first).
    """

    def __init__(self, obj: models.Model, verb: str, current: str, allowed: Iterable[str]):
        self.obj = obj
        self.verb = verb
        self.current = current
        self.allowed = sorted(allowed)
        super().__init__(
            f"cannot {verb} {obj._meta.verbose_name} {obj}: it is {current}"
            f" (allowed from: {', '.join(self.allowed)})"
        )


class StatefulModel(models.Model):
    """Abstract base for models with a ``status`` field driven by verb methods."""

    status_changed_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        abstract = True

    def event_campaign_id(self) -> int | None:
        """Return the id of the campaign this object's events belong to (None if none)."""
        return None

    def _transition(
        self,
        verb: str,
        sources: Iterable[str],
        target: str,
        *,
        actor: Any = None,
        comment: str = "",
        **fields: Any,
    ) -> None:
        """Move from one of ``sources`` to ``target``, updating ``fields`` too.

        Raises IllegalTransition if the stored status is not in ``sources``
        (including when a concurrent worker changed it first).
        """
        sources = frozenset(sources)
        now = timezone.now()
        values = {"status": target, "status_changed_at": now, **fields}
        if "updated" in {f.name for f in self._meta.fields}:
            values["updated"] = now
        with transaction.atomic():
            changed = type(self).objects.filter(pk=self.pk, status__in=sources).update(**values)
            if not changed:
                current = type(self).objects.filter(pk=self.pk).values_list("status", flat=True).first()
                raise IllegalTransition(self, verb, current or "deleted", sources)
            previous = self.status
            for name, value in values.items():
                setattr(self, name, value)
            record_event(self, verb, previous, target, actor=actor, comment=comment)


def record_event(obj: models.Model, verb: str, from_status: str, to_status: str, *, actor: Any = None,
                 comment: str = "") -> Any:
    """Write the Event row of one transition or operator action and return it."""
    from django.contrib.contenttypes.models import ContentType

    event_model = apps.get_model("campaigns", "Event")
    user = actor if getattr(actor, "is_authenticated", False) else None
    campaign_id = obj.event_campaign_id() if hasattr(obj, "event_campaign_id") else None
    return event_model.objects.create(
        content_type=ContentType.objects.get_for_model(type(obj)),
        object_id=obj.pk,
        object_repr=str(obj)[:200],
        campaign_id=campaign_id,
        verb=verb,
        from_status=from_status or "",
        to_status=to_status or "",
        actor=user,
        comment=comment or "",
    )
