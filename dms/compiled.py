"""Reads of a fixed shape whose SQL Django compiles once per database.

Every request begins with the same read — the session's user with their roles and sites
(`dms.signin.StaffBackend`), an API token with its user and roles
(`dms.api.authentication`) — where only one value changes. Through the ORM each built and
compiled the same statement again and turned its rows into instances through the related-object
populators: ~0.65 of the session user's ~0.95 ms in-process (docs/benchmarks.md, 2026-12-07
11:35). Here the queryset is built once with a placeholder value no row has; the placeholder's
place among the compiled parameters is remembered, and each read runs the SQL with the real
value and makes the instances with `Model.from_db`, as the ORM does.

The compiled select must be exactly the declared layout — each model's concrete columns in
their order and the named annotations — and no column may need a converter (SQLite's dates and
booleans under `make run` do); otherwise the queryset itself is read, so a read never differs
from the ORM's."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.db import connections, router
from django.db.models import Model, QuerySet

PLACEHOLDER = -(2**62)  # an integer no row's key has
TEXT_PLACEHOLDER = "\x1fdms-compiled-read\x1f"  # a text no row's key holds


class CompiledRead:
    """`build(value)` is the queryset; `layout` names what its select holds, in order: a model
    (its concrete columns) or the name of an annotation or of a `.values()` column. Each row
    read is a list with one item per entry of the layout: a model instance or the named value.
    `placeholder`: a value of the filtered column's type that no row has (TEXT_PLACEHOLDER for
    a text key)."""

    def __init__(
        self,
        model: type[Model],
        build: Callable[[Any], QuerySet],
        layout: Sequence[type[Model] | str],
        placeholder: Any = PLACEHOLDER,
    ):
        self.model = model
        self.build = build
        self.layout = tuple(layout)
        self.placeholder = placeholder
        self._compiled: dict[str, tuple | None] = {}

    def _expected(self, entry) -> list:
        if isinstance(entry, str):
            return [("annotation", entry)]
        return [("field", field) for field in entry._meta.concrete_fields]

    def _compile(self, alias: str) -> tuple | None:
        try:
            compiler = self.build(self.placeholder).using(alias).query.get_compiler(alias)
            sql, params = compiler.as_sql()
        except (TypeError, ValueError):  # a placeholder the filtered column cannot hold
            return None
        params = list(params)
        columns = [expr for expr, _sql, _alias in compiler.select]
        # an annotation's or a .values() column's select entry carries its name; a model's
        # column, none
        found = [
            ("annotation", name) if name is not None else ("field", getattr(expr, "target", None))
            for expr, _sql, name in compiler.select
        ]
        expected = [item for entry in self.layout for item in self._expected(entry)]
        if (
            params.count(self.placeholder) != 1
            or compiler.get_converters(columns)
            or found != expected
        ):
            return None
        parts = [
            entry
            if isinstance(entry, str)
            else (entry, [field.attname for field in entry._meta.concrete_fields])
            for entry in self.layout
        ]
        return sql, params, params.index(self.placeholder), parts

    def compiled(self, alias: str) -> bool:
        """Whether reads on `alias` use the compiled statement (for tests)."""
        if alias not in self._compiled:
            self._compiled[alias] = self._compile(alias)
        return self._compiled[alias] is not None

    def rows(self, value) -> list[list] | None:
        """The rows for `value`, or None where the compiled statement cannot be used: the
        caller then reads `build(value)`."""
        alias = router.db_for_read(self.model)
        if not self.compiled(alias):
            return None
        sql, params, slot, parts = self._compiled[alias]
        params = list(params)
        params[slot] = value
        with connections[alias].cursor() as cursor:
            cursor.execute(sql, params)
            fetched = cursor.fetchall()
        rows = []
        for values in fetched:
            row, start = [], 0
            for part in parts:
                if isinstance(part, str):
                    row.append(values[start])
                    start += 1
                else:
                    model, attnames = part
                    end = start + len(attnames)
                    row.append(model.from_db(alias, attnames, values[start:end]))
                    start = end
            rows.append(row)
        return rows
