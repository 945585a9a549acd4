"""Set-based inserts of many rows given as tuples: no model instance per row.

``Model.objects.bulk_create`` builds one model instance per row and prepares every field of every
instance; for the 30,053 groups of a data-release plan (87 MB of data ids) that cost 6 s of CPU in
Python alone. :func:`insert_rows` takes the rows as tuples of the columns that differ between rows and
sends them to PostgreSQL as one array per column (``INSERT ... SELECT ... FROM unnest(...)``), in
statements of ``batch_size`` rows; every other field takes one value for all rows.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.db import connections, models
from django.db.models.fields import NOT_PROVIDED

#: Rows per statement: bounds the statement (and its client-side copy) to tens of MB at data-release scale.
BATCH_SIZE = 5000


def insert_rows(model: type[models.Model], columns: Sequence[str], rows: Iterable[Sequence[Any]], *,
                values: Mapping[str, Any] | None = None, batch_size: int = BATCH_SIZE,
                using: str = "default") -> int:
    """Insert ``rows`` into ``model``'s table and return how many were inserted.

    ``columns`` names the concrete fields (by attname, e.g. ``step_id``) each row gives, in the rows' order.
    A row's values are what the column stores: ids, strings, numbers, and for a JSONField its JSON-able
    value (encoded with the field's encoder). ``values`` gives fields one value for every row (as a model
    instance would take it, e.g. ``campaign=obj``); every other field but the auto primary key takes its
    default, computed once for all the rows (a ``timezone.now`` default is one instant), or its
    ``db_default``. Like ``bulk_create``: no ``save()``, no signals, no validation; unlike it, no ids are
    returned. On PostgreSQL ``batch_size`` rows (> 0) go in one ``INSERT ... SELECT FROM unnest(...)``
    statement; on other databases the rows are passed to ``bulk_create``.

    Raises ValueError for a field named twice, a field that is not a concrete column of ``model``
    (``FieldDoesNotExist`` when there is no such field at all) or a ``batch_size`` below 1; a row of the
    wrong length raises ValueError too. The database raises IntegrityError for a missing required value.
    On an error the batches before it stay inserted: call it inside a transaction.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    opts = model._meta
    values = dict(values or {})
    named = [*columns, *(opts.get_field(name).attname for name in values)]
    if len(set(named)) != len(named):
        raise ValueError(f"a field is named twice in {list(columns)} and {sorted(values)}")
    fields = []
    for name in columns:
        field = opts.get_field(name)
        if field.attname != name or not field.concrete or field.many_to_many:
            raise ValueError(f"{opts.label}.{name} is not a column (give a foreign key as its attname, e.g. step_id)")
        fields.append(field)
    connection = connections[using]
    if connection.vendor != "postgresql":
        return _bulk_create(model, columns, rows, values, batch_size, using)
    fixed = _fixed_values(model, set(columns), values, connection)
    head = ", ".join(connection.ops.quote_name(field.column) for field in [*fixed, *fields])
    # a JSON column travels as text[] (psycopg adapts a list of str) and is cast per row
    selected = [f"%s::{_db_type(field, connection)}" for field in fixed]
    arrays, names = [], []
    for index, field in enumerate(fields):
        json_column = isinstance(field, models.JSONField)
        arrays.append(f"%s::{'text' if json_column else _db_type(field, connection)}[]")
        names.append(f"c{index}")
        selected.append(f"c{index}::jsonb" if json_column else f"c{index}")
    sql = (f"INSERT INTO {connection.ops.quote_name(opts.db_table)} ({head}) SELECT {', '.join(selected)} "
           f"FROM unnest({', '.join(arrays)}) AS r({', '.join(names)})")
    fixed_params = list(fixed.values())
    count = 0
    iterator = iter(rows)
    with connection.cursor() as cursor:
        while batch := list(itertools.islice(iterator, batch_size)):
            cursor.execute(sql, fixed_params + _columns_of(batch, fields))
            count += len(batch)
    return count


def _db_type(field: models.Field, connection) -> str:
    # without parameters, as Django's own unnest inserts: varchar[] rather than varchar(64)[]
    return field.db_type(connection).split("(")[0]


def _fixed_values(model: type[models.Model], given: set[str], values: Mapping[str, Any],
                  connection) -> dict[models.Field, Any]:
    """Return {field: database value} of every column not given per row: from ``values`` or the default."""
    template = model(**values)  # a model instance resolves values (campaign=obj) and defaults as it would
    fixed = {}
    for field in model._meta.concrete_fields:
        if field.attname in given or (field.primary_key and isinstance(field, models.AutoField)):
            continue
        if field.name not in values and field.attname not in values and field.db_default is not NOT_PROVIDED:
            continue
        fixed[field] = field.get_db_prep_save(getattr(template, field.attname), connection)
    return fixed


def _columns_of(batch: list[Sequence[Any]], fields: list[models.Field]) -> list[list[Any]]:
    for row in batch:
        if len(row) != len(fields):
            raise ValueError(f"a row has {len(row)} values for {len(fields)} columns: {row!r:.200}")
    columns = [list(column) for column in zip(*batch, strict=True)]
    for index, field in enumerate(fields):
        if isinstance(field, models.JSONField):
            # None is SQL NULL, as the field stores it (not JSON null)
            columns[index] = [None if value is None else json.dumps(value, cls=field.encoder)
                              for value in columns[index]]
    return columns


def _bulk_create(model: type[models.Model], columns: Sequence[str], rows: Iterable[Sequence[Any]],
                 values: Mapping[str, Any], batch_size: int, using: str) -> int:
    objects = []
    for row in rows:
        if len(row) != len(columns):
            raise ValueError(f"a row has {len(row)} values for {len(columns)} columns: {row!r:.200}")
        objects.append(model(**values, **dict(zip(columns, row, strict=True))))
    model.objects.using(using).bulk_create(objects, batch_size=batch_size)
    return len(objects)


def lz4_supported(connection) -> bool:
    """Return whether ``connection``'s server can compress column values with lz4 (PostgreSQL >= 14 built
    with it; False on other databases)."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'")
        row = cursor.fetchone()
    return bool(row and row[0])


def compress_with_lz4(schema_editor, table: str, columns: Sequence[str], *, undo: bool = False) -> bool:
    """Make PostgreSQL compress the values of ``table``'s ``columns`` with lz4 from now on (with ``undo``:
    with the server's default again); for a migration's RunPython. Returns whether anything was changed:
    nothing on a server without lz4 or another database, where the values stay as they are.

    Why: a data-release campaign stores 104 MB of JSON in its plan and 87 MB in its groups' data ids. With
    PostgreSQL's default compression (pglz) storing them cost the server 11 s of CPU, with lz4 5 s, for about
    the same size on disk (50 MB for the plan). Values already stored keep their compression until
    rewritten; reading either is transparent.
    """
    connection = schema_editor.connection
    if not lz4_supported(connection):
        return False
    method = "default" if undo else "lz4"
    quote = connection.ops.quote_name
    changes = ", ".join(f"ALTER COLUMN {quote(column)} SET COMPRESSION {method}" for column in columns)
    schema_editor.execute(f"ALTER TABLE {quote(table)} {changes}")
    return True
