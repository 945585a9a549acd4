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

from collections.abc import Iterable, Mapping
from typing import Any

from django.apps import apps
from django.db import connections, models, transaction
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


def bulk_transition(
    queryset: models.QuerySet,
    verb: str,
    sources: Iterable[str],
    target: str,
    *,
    actor: Any = None,
    comment: str = "",
    limit: int | None = None,
    campaign_field: str | None = "campaign_id",
    row_values: Mapping[int, Mapping[str, Any]] | None = None,
    **fields: Any,
) -> list[tuple[int, str]]:
    """Move every row of ``queryset`` that is in one of ``sources`` to ``target``, set-based.

    Rows locked by another worker are skipped (they are being moved by it);
    the moved rows are locked (``SELECT .. FOR UPDATE SKIP LOCKED``) before
    they are updated, so of two workers exactly one moves a row, and they get
    one Event each, written in one statement. ``fields`` are set on every
    moved row; ``row_values`` maps a pk to fields that differ per row (e.g.
    the quanta counts of each finished job), written in the same UPDATE on
    PostgreSQL (``UPDATE .. FROM (VALUES ..)``). Returns ``[(pk, previous
    status)]`` of the rows moved (at most ``limit``: callers moving
    thousands of rows pass a limit and loop, so memory stays bounded).
    """
    from django.contrib.contenttypes.models import ContentType

    model = queryset.model
    event_model = apps.get_model("campaigns", "Event")
    now = timezone.now()
    values = {"status": target, "status_changed_at": now, **fields}
    if "updated" in {f.name for f in model._meta.fields}:
        values["updated"] = now
    value_fields = ["pk", "status"] + ([campaign_field] if campaign_field else [])
    with transaction.atomic(using=queryset.db):
        locked = (queryset.filter(status__in=set(sources)).order_by("pk")
                  .select_for_update(skip_locked=True, of=("self",)))
        if limit is not None:
            locked = locked[:limit]
        rows = list(locked.values_list(*value_fields))
        if not rows:
            return []
        _update_rows(model, [row[0] for row in rows], values, row_values or {}, queryset.db)
        content_type = ContentType.objects.get_for_model(model)
        user = actor if getattr(actor, "is_authenticated", False) else None
        label = model._meta.verbose_name
        event_model.objects.using(queryset.db).bulk_create(
            [
                event_model(
                    content_type=content_type, object_id=row[0], object_repr=f"{label} #{row[0]}",
                    campaign_id=row[2] if campaign_field else None, verb=verb, from_status=row[1], to_status=target,
                    actor=user, comment=comment, created=now,
                )
                for row in rows
            ],
            batch_size=1000,
        )
    return [(row[0], row[1]) for row in rows]


def _update_rows(model: type[models.Model], pks: list[int], values: dict[str, Any],
                 row_values: Mapping[int, Mapping[str, Any]], using: str) -> None:
    """UPDATE the (locked) rows ``pks``: ``values`` on each, ``row_values[pk]`` on its own row."""
    names = sorted({name for pk in pks for name in row_values.get(pk, ())})
    plain = not any(hasattr(value, "resolve_expression") for value in values.values())
    connection = connections[using]
    if not names:
        model._base_manager.using(using).filter(pk__in=pks).update(**values)
    elif connection.vendor == "postgresql" and plain:
        _update_from_values(model, pks, values, row_values, names, connection)
    else:
        model._base_manager.using(using).filter(pk__in=pks).update(**values)
        changed = [model(pk=pk, **row_values[pk]) for pk in pks if pk in row_values]
        model._base_manager.using(using).bulk_update(changed, names, batch_size=500)


def _update_from_values(model: type[models.Model], pks: list[int], values: dict[str, Any],
                        row_values: Mapping[int, Mapping[str, Any]], names: list[str], connection: Any) -> None:
    """One ``UPDATE t SET .. FROM (VALUES (pk, ..), ..) v WHERE t.pk = v.pk`` (PostgreSQL).

    Every row of ``pks`` must have a value for every field of ``names``.
    """
    quote = connection.ops.quote_name
    meta = model._meta
    pk_column = quote(meta.pk.column)
    setters, params = [], []
    for name, value in values.items():
        field = meta.get_field(name)
        setters.append(f"{quote(field.column)} = %s")
        params.append(field.get_db_prep_save(value, connection))
    per_row = [meta.get_field(name) for name in names]
    setters += [f"{quote(field.column)} = v.{quote(field.column)}" for field in per_row]
    casts = [f"%s::{meta.pk.db_type(connection)}"] + [f"%s::{field.db_type(connection)}" for field in per_row]
    row_sql = f"({', '.join(casts)})"
    rows_sql = []
    for pk in pks:
        rows_sql.append(row_sql)
        params.append(pk)
        params += [field.get_db_prep_save(row_values[pk][field.name], connection) for field in per_row]
    columns = ", ".join([pk_column] + [quote(field.column) for field in per_row])
    sql = (f"UPDATE {quote(meta.db_table)} AS t SET {', '.join(setters)} FROM (VALUES {', '.join(rows_sql)})"
           f" AS v ({columns}) WHERE t.{pk_column} = v.{pk_column}")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
