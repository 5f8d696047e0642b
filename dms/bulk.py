"""Many rows in one INSERT, without a model instance per row (batch workers).

On Postgres the per-row values travel as one array per column and are expanded by `unnest`:
one statement with a parameter per column instead of one per value, and no model instance or
per-value field preparation in Python (~15 µs a row instead of ~90 µs with `bulk_create` for an
audit row). Elsewhere (SQLite, the no-services default) it is `bulk_create`.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import connection, models
from django.utils import timezone


def insert_many(
    model: type[models.Model],
    *,
    per_row: Mapping[str, Sequence[Any]],
    same: Mapping[str, Any] | None = None,
) -> list[int]:
    """Insert one row per position of the `per_row` lists; returns the new ids in that order.

    `per_row` maps field names (attnames: `site_id`) to one plain value per row (numbers,
    strings, datetimes, None); `same` maps field names to one value for every row (any value the
    field takes, JSON included). Fields named in neither get their default; `auto_now` /
    `auto_now_add` date-times get the current time, as `save()` would give them."""
    same = dict(same or {})
    lengths = {len(values) for values in per_row.values()}
    if len(lengths) != 1:
        msg = "insert_many: every per_row list must have the same length"
        raise ValueError(msg)
    (n,) = lengths
    if n == 0:
        return []
    now = timezone.now()
    for field in model._meta.concrete_fields:
        if field.primary_key or field.attname in per_row or field.attname in same:
            continue
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            same[field.attname] = now
        else:
            same[field.attname] = field.get_default()
    if connection.vendor != "postgresql":
        objs = model.objects.bulk_create(
            model(**same, **{name: values[i] for name, values in per_row.items()}) for i in range(n)
        )
        return [obj.pk for obj in objs]
    fields = {f.attname: f for f in model._meta.concrete_fields}
    quote = connection.ops.quote_name
    columns, selects, constants, arrays, array_values = [], [], [], [], []

    def db_type(field) -> str:
        return field.db_type(connection).split("(")[0]  # varchar[], not varchar(40)[]

    for i, (name, values) in enumerate(per_row.items()):
        field = fields[name]
        columns.append(quote(field.column))
        selects.append(f"u.c{i}")
        arrays.append(f"%s::{db_type(field)}[]")
        array_values.append(list(values))
    for name, value in same.items():
        field = fields[name]
        columns.append(quote(field.column))
        selects.append(f"%s::{db_type(field)}")  # typed, so a NULL fits any column
        constants.append(field.get_db_prep_save(value, connection))
    aliases = ", ".join(f"c{i}" for i in range(len(per_row)))
    # only names from the model's meta and placeholders are formatted in; values are parameters
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(columns)}) "  # noqa: S608
        f"SELECT {', '.join(selects)} FROM unnest({', '.join(arrays)}) AS u({aliases}) "
        f"RETURNING {quote(model._meta.pk.column)}"
    )
    with connection.cursor() as cursor:
        # the constants' placeholders (in the SELECT list) come before the arrays' in the text
        cursor.execute(sql, [*constants, *array_values])
        return [row[0] for row in cursor.fetchall()]
