"""Lifecycles as verb methods: the shared machinery behind every state machine.

A model with a lifecycle subclasses ``StatefulModel``, states its transitions
as data (``TRANSITIONS = {verb: (sources, target)}``) and exposes one verb
method per transition (``start()``, ``fail()``, ``retry()`` ...) that calls
``_transition(verb)``. Every state set the rest of msproc uses (which buttons
to offer, which groups a reject gives up, ...) is derived from the table
(``sources_of``, ``target_of``, ``verbs_from``), never written out again. The move
is a conditional UPDATE (``WHERE pk = .. AND status IN (..)``), so of two
workers trying the same move exactly one wins; the loser gets
``IllegalTransition``. Every successful move writes an ``Event`` row in the
same database transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from django.apps import apps
from django.core.exceptions import EmptyResultSet
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
        label = str(obj)
        named = label if label.startswith(str(obj._meta.verbose_name)) else f"{obj._meta.verbose_name} {label}"
        super().__init__(
            f"cannot {verb} {named}: it is {current}"
            f" (allowed from: {', '.join(self.allowed)})"
        )


Transitions = dict[str, tuple[Iterable[str], str]]


def sources_in(table: Transitions, *verbs: str) -> frozenset[str]:
    """Return the states any of ``verbs`` may leave in a transition ``table`` (before its model exists).

    For a model's own table use ``Model.sources_of``; this serves what a model's ``Meta`` needs while the
    class is being built (partial-index conditions). Raises KeyError for a verb not in ``table``.
    """
    return frozenset(state for verb in verbs for state in table[verb][0])


def in_declared_order(states: Iterable[str], choices: type[models.TextChoices]) -> list[str]:
    """Return ``states`` as a list in the declaration order of ``choices`` (stable SQL, stable migrations).

    Raises ValueError for a state ``choices`` does not declare.
    """
    order = list(choices.values)
    return sorted(states, key=order.index)


class StatefulModel(models.Model):
    """Abstract base for models with a ``status`` field driven by verb methods.

    Subclasses set ``TRANSITIONS``: each verb -> (the states it may leave, the state it enters).
    """

    TRANSITIONS: ClassVar[Transitions] = {}

    status_changed_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        abstract = True

    def event_campaign_id(self) -> int | None:
        """Return the id of the campaign this object's events belong to (None if none)."""
        return None

    @classmethod
    def sources_of(cls, *verbs: str) -> frozenset[str]:
        """Return the states any of ``verbs`` may leave. Raises KeyError for a verb not in ``TRANSITIONS``."""
        return sources_in(cls.TRANSITIONS, *verbs)

    @classmethod
    def target_of(cls, verb: str) -> str:
        """Return the state ``verb`` enters. Raises KeyError for a verb not in ``TRANSITIONS``."""
        return cls.TRANSITIONS[verb][1]

    @classmethod
    def targets_of(cls, *verbs: str) -> frozenset[str]:
        """Return the states ``verbs`` enter. Raises KeyError for a verb not in ``TRANSITIONS``."""
        return frozenset(cls.TRANSITIONS[verb][1] for verb in verbs)

    @classmethod
    def final_states(cls) -> frozenset[str]:
        """Return the states some verb enters and no verb leaves (a group's accepted and rejected)."""
        entered = {target for _, target in cls.TRANSITIONS.values()}
        return frozenset(entered - {state for sources, _ in cls.TRANSITIONS.values() for state in sources})

    @classmethod
    def verbs_from(cls, status: str, verbs: Iterable[str] | None = None) -> tuple[str, ...]:
        """Return the verbs (of ``verbs``, in their order; default every verb) that may leave ``status``."""
        return tuple(verb for verb in (cls.TRANSITIONS if verbs is None else verbs)
                     if status in cls.TRANSITIONS[verb][0])

    def _transition(self, verb: str, *, actor: Any = None, comment: str = "", **fields: Any) -> None:
        """Move by ``verb`` from one of its sources to its target (``TRANSITIONS``), updating ``fields`` too.

        Raises IllegalTransition if the stored status is not one of the verb's sources
        (including when a concurrent worker changed it first).
        """
        sources, target = self.sources_of(verb), self.target_of(verb)
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

    event_model = apps.get_model("core", "Event")
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
    *,
    sources: Iterable[str] | None = None,
    actor: Any = None,
    comment: str = "",
    limit: int | None = None,
    campaign_field: str | None = "campaign_id",
    row_values: Mapping[int, Mapping[str, Any]] | None = None,
    order_by: tuple[str, ...] = ("pk",),
    **fields: Any,
) -> list[tuple[int, str]]:
    """Move every row of ``queryset`` by ``verb`` (its sources and target from the model's ``TRANSITIONS``).

    ``sources`` narrows the states moved to a subset of the verb's sources (ValueError otherwise).

    The rows are locked (``SELECT .. FOR UPDATE SKIP LOCKED``) and only then
    updated, so of two workers exactly one moves a row; rows locked by another
    worker are skipped (it is moving them). Each moved row gets one Event.
    ``fields`` are set on every moved row; ``row_values`` maps a pk to fields
    that differ per row (e.g. the quanta counts of each finished job) and
    then only rows present in it are moved. On PostgreSQL, with plain values
    (no expressions), the lock, the update and the events are one statement
    (CTEs); elsewhere three. Returns ``[(pk, previous status)]`` of the rows
    moved, in pk order (at most ``limit``: callers moving thousands of rows
    pass a limit and loop, so memory stays bounded; ``order_by`` chooses which
    rows a limited call takes first).
    """
    from django.contrib.contenttypes.models import ContentType

    model = queryset.model
    allowed = model.sources_of(verb)
    sources = allowed if sources is None else frozenset(sources)
    if not sources <= allowed:
        raise ValueError(f"{model.__name__}.{verb} does not leave {', '.join(sorted(sources - allowed))}")
    target = model.target_of(verb)
    using = queryset.db
    connection = connections[using]
    event_model = apps.get_model("core", "Event")
    now = timezone.now()
    values = {"status": target, "status_changed_at": now, **fields}
    if "updated" in {f.name for f in model._meta.fields}:
        values["updated"] = now
    value_fields = ["pk", "status"] + ([campaign_field] if campaign_field else [])
    row_values = row_values or {}
    event = {"content_type": ContentType.objects.db_manager(using).get_for_model(model), "verb": verb,
             "target": target, "user": actor if getattr(actor, "is_authenticated", False) else None,
             "comment": comment, "created": now, "label": str(model._meta.verbose_name)}
    with transaction.atomic(using=using):
        locked = (queryset.filter(status__in=set(sources)).order_by(*order_by)
                  .select_for_update(skip_locked=True, of=("self",)))
        if limit is not None:
            locked = locked[:limit]
        locked = locked.values_list(*value_fields)
        if connection.vendor == "postgresql" and not any(hasattr(v, "resolve_expression") for v in values.values()):
            return _transition_statement(locked, values, row_values, event, bool(campaign_field), connection)
        rows = [row for row in locked if not row_values or row[0] in row_values]
        if not rows:
            return []
        pks = [row[0] for row in rows]
        model._base_manager.using(using).filter(pk__in=pks).update(**values)
        names = sorted({name for pk in pks for name in row_values.get(pk, ())})
        if names:
            changed = [model(pk=pk, **row_values[pk]) for pk in pks]
            model._base_manager.using(using).bulk_update(changed, names, batch_size=500)
        event_model.objects.using(using).bulk_create(
            [
                event_model(
                    content_type=event["content_type"], object_id=row[0], object_repr=f"{event['label']} #{row[0]}",
                    campaign_id=row[2] if campaign_field else None, verb=verb, from_status=row[1], to_status=target,
                    actor=event["user"], comment=comment, created=now,
                )
                for row in rows
            ],
            batch_size=1000,
        )
    return [(row[0], row[1]) for row in rows]


def _transition_statement(locked: models.QuerySet, values: dict[str, Any], row_values: Mapping[int, Mapping[str, Any]],
                          event: dict[str, Any], has_campaign: bool, connection: Any) -> list[tuple[int, str]]:
    """Lock, move and record in one PostgreSQL statement; return ``[(pk, previous status)]``.

    ``WITH locked AS (SELECT .. FOR UPDATE SKIP LOCKED), moved AS (UPDATE .. FROM locked [JOIN unnest(..)]
    RETURNING ..), events AS (INSERT INTO event .. SELECT .. FROM moved) SELECT .. FROM moved``: nothing
    but the moved pks travels back, and per-row values travel as one array per column.
    """
    model = locked.model
    meta = model._meta
    quote = connection.ops.quote_name
    pk = quote(meta.pk.column)
    try:
        select_sql, params = locked.query.get_compiler(connection=connection).as_sql()
    except EmptyResultSet:  # e.g. pk__in=[]: nothing to move
        return []
    params = list(params)
    setters = []
    for name, value in values.items():
        field = meta.get_field(name)
        setters.append(f"{quote(field.column)} = %s")
        params.append(field.get_db_prep_save(value, connection))
    source = "locked"
    names = sorted({name for per_row in row_values.values() for name in per_row})
    if names:
        pks = sorted(row_values)
        arrays = [f"%s::{meta.pk.db_type(connection)}[]"]
        params.append(pks)
        for name in names:
            field = meta.get_field(name)
            column = quote(field.column)
            if field.get_internal_type() == "JSONField":  # as text, cast back per row: jsonb[] adapts poorly
                arrays.append("%s::text[]")
                setters.append(f"{column} = v.{column}::jsonb")
                params.append([json.dumps(row_values[key][name], cls=field.encoder) for key in pks])
            else:
                arrays.append(f"%s::{field.db_type(connection)}[]")
                setters.append(f"{column} = v.{column}")
                params.append(_column([row_values[key][name] for key in pks], field, connection))
        columns = ", ".join(["id"] + [quote(meta.get_field(name).column) for name in names])
        source = f"locked JOIN unnest({', '.join(arrays)}) AS v ({columns}) ON v.id = locked.id"
    event_meta = apps.get_model("core", "Event")._meta
    event_columns = ", ".join(quote(event_meta.get_field(name).column) for name in (
        "content_type", "object_id", "object_repr", "campaign", "verb", "from_status", "to_status", "actor",
        "comment", "created"))
    sql = (
        f"WITH locked (id, status, campaign_id) AS ({select_sql if has_campaign else _with_null(select_sql)}),"
        f" moved AS (UPDATE {quote(meta.db_table)} AS t SET {', '.join(setters)} FROM {source}"
        f" WHERE t.{pk} = locked.id RETURNING locked.id, locked.status, locked.campaign_id),"
        f" events AS (INSERT INTO {quote(event_meta.db_table)} ({event_columns})"
        "  SELECT %s, moved.id, %s || moved.id::text, moved.campaign_id, %s, moved.status, %s, %s, %s, %s"
        "  FROM moved)"
        " SELECT id, status FROM moved ORDER BY id"
    )
    params += [event["content_type"].pk, f"{event['label'][:180]} #", event["verb"], event["target"],
               getattr(event["user"], "pk", None), event["comment"], event["created"]]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(row[0], row[1]) for row in cursor.fetchall()]


_PLAIN_FIELDS = frozenset({"BigIntegerField", "BooleanField", "CharField", "IntegerField", "PositiveBigIntegerField",
                           "PositiveIntegerField", "PositiveSmallIntegerField", "SmallIntegerField", "TextField"})


def _column(values: list[Any], field: models.Field, connection: Any) -> list[Any]:
    """Return one column's values as the database takes them (ints and strings as they are: the common case)."""
    if field.get_internal_type() in _PLAIN_FIELDS and all(value is None or type(value) in (int, str, bool)
                                                           for value in values):
        return values
    return [field.get_db_prep_save(value, connection) for value in values]


def _with_null(select_sql: str) -> str:
    """Wrap a two-column SELECT so it has a third, NULL, campaign column."""
    return f"SELECT sub.*, NULL::bigint FROM ({select_sql}) AS sub"
