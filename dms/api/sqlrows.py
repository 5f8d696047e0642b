"""List pages written as JSON by Postgres: the API lists' fast path.

A list page is one statement: the view's cursor pagination (its filters, cursor order and
`LIMIT page_size + 1`) reads the ordering columns, which the cursor needs, and each row's
`json_build_object(...)::text` from a correlated subquery; Python joins those texts into the
answer without making a value of any column.

Why not the serializers: a list row has 10-30 fields; reading them into Python values
(date-times through Django's time-zone loader, decimals), converting each as its DRF field
does, and encoding the result again cost 2-5 ms per page of 25 rows, where the bare endpoint
(the same middleware, authentication and renderer) costs 1.7 ms. The lists then served
31-53 % of the bare endpoint's requests per second; SPEC §9 asks for 60 % (docs/benchmarks.md,
"API lists written by Postgres"). The row's SQL is made once per list with the ORM (joins,
columns) and kept; each request only fills in the time zone, the link's prefix and the clock.

Every field is written as its DRF field writes it: ids, text, choices and booleans as stored;
a date as `YYYY-MM-DD`; a date-time as ISO 8601 in the current time zone (`…+08:00`, `Z` for
UTC, microseconds only when there are any); a decimal as a string with the field's decimal
places; a nested serializer of plain fields as an object (null when its key is); `url` as the
detail link. A field of any other kind needs its SQL given (`computed`) or the list raises when
its SQL is made. `tests/api/test_list_rows_sql.py` holds every list equal to its serializers'
output; other databases (SQLite for `make run`) take the Python path (`dms.api.lists`).
"""

from __future__ import annotations

import copy
import functools
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import NamedTuple

import psycopg
from django.db import DEFAULT_DB_ALIAS, connection, connections, router
from django.db.models import (
    BooleanField,
    Case,
    Expression,
    F,
    Func,
    OuterRef,
    Q,
    Subquery,
    TextField,
    Value,
    When,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast, Concat
from django.http import HttpResponse
from django.urls import get_script_prefix
from django.utils import timezone
from rest_framework import serializers
from rest_framework.settings import api_settings

from ..permissions import role_signature
from .filters import ALWAYS_ALLOWED, PAGE_PARAMETERS
from .lists import DetailLink, detail_link_parts

# what a page fills into the SQL made once (unique text no list could hold as a constant)
ZONE = "\x1fdms-zone\x1f"
OFFSET_A = "\x1fdms-offset-a\x1f"
OFFSET_A_TEXT = "\x1fdms-offset-a-text\x1f"
OFFSET_B = "\x1fdms-offset-b\x1f"
OFFSET_B_TEXT = "\x1fdms-offset-b-text\x1f"
NOW = "\x1fdms-now\x1f"
TODAY = "\x1fdms-today\x1f"
LINK_PREFIX = "\x1fdms-link-prefix\x1f"
LINK_SUFFIX = "\x1fdms-link-suffix\x1f"
PREPARE_AFTER = 5  # runs of a statement on a connection before psycopg prepares it (its default)


def now() -> Expression:
    """The request's time, for a computed field (`respond_by < now`)."""
    return RawSQL("%s::timestamptz", [NOW])


def today() -> Expression:
    """Today in the current time zone, for a computed field."""
    return RawSQL("%s::date", [TODAY])


def available() -> bool:
    return connection.vendor == "postgresql"


class IsoDateTime(Expression):
    """A date-time column as DRF writes it: ISO 8601 in the current time zone."""

    output_field = TextField()

    def __init__(self, column):
        super().__init__()
        self.column = column

    def get_source_expressions(self):
        return [self.column]

    def set_source_expressions(self, exprs):
        (self.column,) = exprs

    def as_sql(self, compiler, connection):
        col, col_params = compiler.compile(self.column)
        # dms_iso_at: migration dms 0010 (ISO 8601 in the zone, "Z" for UTC, microseconds only
        # when there are any; the zone's offsets of the year and their text given)
        return f"dms_iso_at({col}, %s, %s, %s, %s, %s)", [
            *col_params,
            ZONE,
            OFFSET_A,
            OFFSET_A_TEXT,
            OFFSET_B,
            OFFSET_B_TEXT,
        ]


def _offset_text(offset: timedelta) -> str:
    """An offset as DRF writes it at the end of a date-time: datetime.isoformat()'s, "Z" for
    a zero offset."""
    if not offset:
        return "Z"
    sign = "-" if offset < timedelta(0) else "+"
    seconds = int(abs(offset).total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{sign}{hours:02d}:{minutes:02d}" + (f":{seconds:02d}" if seconds else "")


def zone_offsets(zone, at: datetime) -> tuple[timedelta, str, timedelta, str]:
    """The zone's offsets from UTC in the year of `at` (winter's and summer's; the same twice
    where there is no daylight saving time) with their text: dms_iso_at writes a value with
    one of them without formatting its offset."""
    return _year_offsets(zone, at.year)


@functools.lru_cache(maxsize=64)
def _year_offsets(zone, year: int) -> tuple[timedelta, str, timedelta, str]:
    winter = datetime(year, 1, 15, 12, tzinfo=zone).utcoffset() or timedelta(0)
    summer = datetime(year, 7, 15, 12, tzinfo=zone).utcoffset() or timedelta(0)
    return winter, _offset_text(winter), summer, _offset_text(summer)


class _Key(Expression):
    """A JSON key written into the SQL as a literal: the statement is prepared once and run
    with server-side parameters, and Postgres cannot type a parameter of `json_build_object`
    (its arguments are of any type). Keys are the serializers' field names."""

    output_field = TextField()

    def __init__(self, key: str):
        super().__init__()
        if not key.replace("_", "").isalnum() or not key.isascii():
            raise ValueError(f"not a field name: {key!r}")
        self.key = key

    def as_sql(self, compiler, connection):
        return f"'{self.key}'", []


def json_object(pairs: list[tuple[str, Expression]]) -> Func:
    args = []
    for key, expr in pairs:
        args += [_Key(key), expr]
    return Func(*args, function="json_build_object", output_field=TextField())


def _column(model, source: str) -> str:
    """A serializer's `source` as an ORM path: `customer.name` → `customer__name`; a foreign
    key by its column (`site` → `site_id`)."""
    path = source.replace(".", "__")
    if "__" not in path:
        field = model._meta.get_field(path)
        if field.concrete and field.is_relation:
            return field.attname
    return path


def field_sql(model, name: str, field, prefix: str = "") -> Expression:
    """The SQL that writes `field` as DRF does (see the module's docstring)."""
    if isinstance(field, DetailLink):
        return Concat(
            RawSQL("%s::text", [LINK_PREFIX]),
            Cast(F("id"), TextField()),
            RawSQL("%s::text", [LINK_SUFFIX]),
            output_field=TextField(),
        )
    source = field.source or name
    if isinstance(field, serializers.Serializer):  # a nested row of plain fields
        fk = model._meta.get_field(source)
        related = fk.related_model
        inner = [
            (sub_name, field_sql(related, sub_name, sub_field, f"{prefix}{source}__"))
            for sub_name, sub_field in field.fields.items()
        ]
        return Case(
            When(**{f"{prefix}{fk.attname}__isnull": True}, then=Value(None)),
            default=json_object(inner),
            output_field=TextField(),
        )
    if isinstance(field, serializers.PrimaryKeyRelatedField):
        return F(prefix + model._meta.get_field(source).attname)
    if source == "get_full_name":  # a user's name, as User.get_full_name
        return PersonName(prefix)
    column = F(prefix + source if prefix else _column(model, source))
    if isinstance(field, serializers.DateTimeField):
        return IsoDateTime(column)
    if isinstance(field, serializers.DateField):
        return Func(column, Value("YYYY-MM-DD"), function="to_char", output_field=TextField())
    if isinstance(field, serializers.DecimalField) and getattr(
        field, "coerce_to_string", api_settings.COERCE_DECIMAL_TO_STRING
    ):
        return Cast(Func(column, Value(field.decimal_places), function="round"), TextField())
    if isinstance(
        field,
        (
            serializers.IntegerField,
            serializers.CharField,
            serializers.ChoiceField,
            serializers.BooleanField,
            serializers.FloatField,
        ),
    ):
        return column
    raise TypeError(f"{model.__name__} list: no SQL for the field {name!r} ({type(field)})")


def person_name_sql(first: str, last: str, username: str) -> tuple[str, list]:
    """`dms.names.person_name` in SQL over these columns (the function dms_person_name,
    migration dms 0008): family name first with no space when the name has CJK characters,
    else "Given Family"; the username when both are empty."""
    return f"dms_person_name({first}, {last}, {username})", []


class PersonName(Expression):
    """A user's name as `User.get_full_name()` writes it (`dms.names.person_name`)."""

    output_field = TextField()

    def __init__(self, prefix: str = ""):
        super().__init__()
        self.columns = [F(prefix + "first_name"), F(prefix + "last_name"), F(prefix + "username")]

    def get_source_expressions(self):
        return self.columns

    def set_source_expressions(self, exprs):
        self.columns = list(exprs)

    def as_sql(self, compiler, connection):
        compiled = [compiler.compile(column)[0] for column in self.columns]
        return person_name_sql(*compiled)


def flag(condition: Q) -> Expression:
    """A computed boolean field: true where `condition` holds, else false (never null)."""
    return Case(
        When(condition, then=Value(True)), default=Value(False), output_field=BooleanField()
    )


def _server_cursor(using: str):
    """A cursor of the `using` connection that binds parameters on the server, so psycopg
    prepares a statement after its PREPARE_AFTER-th run on the connection and Postgres no
    longer parses and plans it per page. The settings bind every query that way
    (`dms.settings.base.prepared_statements`); this cursor does it for a page whatever the
    settings say, and reads date-times with psycopg's own loader. Wrapped as Django wraps its
    cursors: the query is logged and counted like any other."""
    db = connections[using]
    db.ensure_connection()
    raw = db.connection
    if raw.prepare_threshold is None:
        raw.prepare_threshold = PREPARE_AFTER
    cursor = psycopg.Cursor(raw)
    # psycopg's own (compiled) loader for date-times: Django's, which only states the
    # connection's zone (UTC) on the value, is written in Python and read the page's
    # ordering column slower than the rest of the page
    oid = psycopg.adapters.types["timestamptz"].oid
    cursor.adapters.register_loader(oid, psycopg.adapters.get_loader(oid, psycopg.pq.Format.TEXT))
    return db._prepare_cursor(cursor)


class SqlRows:
    """A list's rows as its serializer writes them, made by Postgres (see the module).

    `fields`: the serializer's fields ({name: DRF field}); `computed`: {name: function() ->
    expression} for the fields no column holds (a method field, a list of related rows)."""

    def __init__(self, fields: Callable[[], dict], *, computed: dict | None = None):
        self._fields = fields
        self.computed = computed or {}
        self._made: dict = {}

    def _row_sql(self, model) -> tuple[str, tuple, bool]:
        """The row of the outer query's record as one JSON text: a correlated subquery's SQL
        (compiled once: compiling its ~30 expressions took 1.6 ms), its parameters with the
        slots a request fills, and whether a row has a link."""
        made = self._made.get(model)
        if made is None:
            pairs = []
            fields = self._fields()
            for name, field in fields.items():
                if name in self.computed:
                    pairs.append((name, self.computed[name]()))
                else:
                    pairs.append((name, field_sql(model, name, field)))
            inner = (
                model._base_manager.filter(pk=OuterRef("pk"))
                .annotate(_row=Cast(json_object(pairs), TextField()))
                .order_by()
                .values("_row")
            )
            outer = model._base_manager.all().query
            sql, params = outer.get_compiler(DEFAULT_DB_ALIAS).compile(
                Subquery(inner).resolve_expression(outer)
            )
            linked = any(isinstance(f, DetailLink) for f in fields.values())
            made = self._made[model] = (sql, tuple(params), linked)
        return made

    def row(self, model) -> RawSQL:
        """The JSON text of each row of a `model` query, its request's values (time zone, clock,
        the link's prefix) left as slots (`_fill` has them)."""
        sql, template, _linked = self._row_sql(model)
        return RawSQL(sql, template, output_field=TextField())  # noqa: S611 - made from the ORM

    def linked(self, model) -> bool:
        return self._row_sql(model)[2]


def serves(request) -> bool:
    """Whether this request's page is written by Postgres: on Postgres, for a JSON answer (the
    browsable API renders the serializers' data)."""
    renderer = getattr(request, "accepted_renderer", None)
    return available() and renderer is not None and renderer.format == "json"


# --- the page's statement, kept for the next request that asks the same -------------------------
#
# Building a page's statement is Python work that does not depend on the data: the view's
# queryset, the values and the row's annotation, the cursor's ordering, position and slice, and
# compiling it all to SQL. For a page of repair orders that was ~0.5 ms of a ~3 ms request (the
# bare endpoint: ~1 ms), paid again for every page, although an API client asks for the same few
# pages again and again (the newest repair orders, the next calls) and walks a list in pages of
# one shape. So the statement is kept in the process for the request's *key* (the list, the
# user, their roles and site, the page size) and the page's *shape* (its ordering, whether and
# which way it starts at a position, its slice). A request whose key and shape were seen runs
# the kept SQL with its own values: the cursor's position, the time zone, the clock, the link's
# host. The data is read anew every time; only the statement's text is reused.
#
# Not kept: a list asked with a filter, a superuser's list (see `_request_key`), and a
# statement whose parameters hold a date, time or duration besides those values (a value the
# view computed from the clock) or whose position cannot be told from another parameter; those
# pages are built for every request, as before. The measurements: docs/benchmarks.md,
# "2026-12-07 19:40–21:15".

POSITION = "\x1fdms-position\x1f"
STATEMENTS_KEPT = 128  # request keys per process
# shapes per key: a walk through a list needs two or three (the first page, the next ones from
# a position); a cursor's offset (rows tied on the ordering column) is a shape of its own, so a
# client walking offsets could otherwise make up to ~4,000 per key. At most 128 × 16 statements
# of ~1-7 KB of SQL each: < 15 MB per process in the worst case, ~100 KB in practice.
SHAPES_KEPT = 16


class _Statement(NamedTuple):
    sql: str
    params: tuple  # with the request's slots (ZONE, NOW, POSITION, …) still in them
    using: str | None  # the queryset's own database (`.using()`), else the router's per read


class _KeptStatements:
    """{request key: (model, {shape: _Statement})}, the least recently used key dropped."""

    def __init__(self, size: int):
        self.size = size
        self._keys: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            kept = self._keys.get(key)
            if kept is not None:
                self._keys.move_to_end(key)
            return kept

    def add(self, key, model) -> dict:
        with self._lock:
            kept = self._keys.get(key)
            if kept is None:
                kept = self._keys[key] = (model, {})
                while len(self._keys) > self.size:
                    self._keys.popitem(last=False)
            return kept[1]


KEPT = _KeptStatements(STATEMENTS_KEPT)


PAGE_ONLY = frozenset(PAGE_PARAMETERS + ALWAYS_ALLOWED)  # a query without a filter


def _request_key(view, rows: SqlRows) -> tuple | None:
    """What a list's statement depends on besides the page's shape and slots: the list (view
    set, action, URL arguments, rows), the user with their roles per site and the site the
    request works on, the page size. None: not kept — no user, a superuser (every active
    site, read per request), or a filter: a filter may read in Python what it then compares
    with (the lookup's hits, `customers.apis._lookup_ids`), which a kept statement would hold
    fixed. A list's `get_queryset` must therefore be made from the user, their roles and the
    request's site alone (the five lists are: `site_ids_of`, `request.site_id`, `has_role`)."""
    request = view.request
    user = request.user
    if not getattr(user, "is_authenticated", False) or getattr(user, "is_superuser", False):
        return None
    if not PAGE_ONLY.issuperset(request.query_params):
        return None
    return (
        type(view),
        getattr(view, "action", None),
        tuple(sorted(view.kwargs.items())),
        id(rows),
        user.pk,
        role_signature(user),
        getattr(request, "site_id", None),
        tuple(request.query_params.getlist("page_size")),
        tuple(request.query_params.getlist("format")),
    )


def _fill(link) -> dict:
    """The request's values of the slots the row's SQL was made with."""
    zone = timezone.get_current_timezone()
    at = timezone.now()
    offsets = zone_offsets(zone, at)
    return {
        ZONE: getattr(zone, "key", None) or str(zone),
        OFFSET_A: offsets[0],
        OFFSET_A_TEXT: offsets[1],
        OFFSET_B: offsets[2],
        OFFSET_B_TEXT: offsets[3],
        NOW: at,
        TODAY: timezone.localdate(at),
        LINK_PREFIX: link[0] if link else "",
        LINK_SUFFIX: link[1] if link else "",
    }


_LINKS: dict = {}


def _link_parts(view) -> tuple[str, str]:
    """`detail_link_parts` of the view set for this request's scheme and host (validated by
    ALLOWED_HOSTS), reversed once per process rather than per page (~70 µs)."""
    request = view.request
    key = (type(view), request.scheme, request.get_host(), get_script_prefix())
    parts = _LINKS.get(key)
    if parts is None:
        if len(_LINKS) >= STATEMENTS_KEPT:
            _LINKS.clear()
        parts = _LINKS[key] = detail_link_parts(view)
    return parts


def _position_value(model, lookup: str, position, using: str):
    """The cursor's position as the ORM passes it to the database for `lookup`
    (`opened_at__lt`): prepared by the column's field, as a lookup prepares its value."""
    field = model._meta.get_field(lookup.rsplit("__", 1)[0])
    return field.get_db_prep_value(
        field.get_prep_value(position), connections[using], prepared=True
    )


def _statement(sql: str, params, position, explicit_db) -> tuple[_Statement, bool]:
    """The compiled page as a statement with the position's slot; and whether it may be kept
    (no other value that a later request could see differently)."""
    params = list(params)
    keep = True
    if position is not _NO_POSITION:
        at = [i for i, p in enumerate(params) if type(p) is type(position) and p == position]
        if len(at) == 1:
            params[at[0]] = POSITION
        else:
            keep = False
    if any(isinstance(p, (date, time, timedelta)) for p in params):
        keep = False  # a value the view made from the clock (or a date the client gave)
    return _Statement(sql, tuple(params), explicit_db), keep


_NO_POSITION = object()


def _run_page(statement: _Statement, using: str, values: dict) -> list[dict]:
    """A page's rows: the statement run with this request's values on the `using` database,
    on a server-binding cursor (prepared on the connection after PREPARE_AFTER runs)."""
    params = [values[p] if isinstance(p, str) and p in values else p for p in statement.params]
    with _server_cursor(using) as cursor:
        cursor.execute(statement.sql, params)
        names = [column.name for column in cursor.description]
        rows = cursor.fetchall()
    return [dict(zip(names, row, strict=True)) for row in rows]


class _PageQuery:
    """What the cursor pagination asks of a queryset — order it, filter it from the cursor's
    position, slice a page, read it — answered with a kept statement when there is one for
    this shape, else by building and compiling the page's queryset (`make`) and keeping the
    statement when it may be kept (`shapes`: the request key's statements, None: keep none)."""

    def __init__(self, model, make: Callable, shapes: dict | None, values: dict):
        self.model = model
        self._make = make
        self._shapes = shapes
        self._values = values
        self._ordering: tuple = ()
        self._lookup: str | None = None
        self._position = None
        self._bounds: tuple = (None, None)

    def _changed(self, **changes) -> _PageQuery:
        other = copy.copy(self)
        other.__dict__.update(changes)
        return other

    def order_by(self, *ordering) -> _PageQuery:
        return self._changed(_ordering=ordering)

    def filter(self, **lookup) -> _PageQuery:
        ((name, position),) = lookup.items()
        return self._changed(_lookup=name, _position=position)

    def __getitem__(self, bounds: slice) -> _PageQuery:
        return self._changed(_bounds=(bounds.start, bounds.stop))

    def __iter__(self):
        return iter(self._rows())

    def _rows(self) -> list[dict]:
        shape = (self._ordering, self._lookup, self._bounds)
        statement = self._shapes.get(shape) if self._shapes is not None else None
        if statement is None:
            qs = self._make().order_by(*self._ordering)
            if self._lookup is not None:
                qs = qs.filter(**{self._lookup: self._position})
            qs = qs[self._bounds[0] : self._bounds[1]]
            using = qs.db
            position = self._position_value(using)
            sql, params = qs.query.get_compiler(using).as_sql()
            statement, keep = _statement(sql, params, position, qs._db)
            if keep and self._shapes is not None and len(self._shapes) < SHAPES_KEPT:
                self._shapes[shape] = statement
        else:
            # as the queryset's `.db`: its own database, else the router's for this read
            using = statement.using or router.db_for_read(self.model) or DEFAULT_DB_ALIAS
            position = self._position_value(using)
        values = self._values
        if position is not _NO_POSITION:
            values = {**values, POSITION: position}  # unused when the statement has no slot
        return _run_page(statement, using, values)

    def _position_value(self, using: str):
        if self._lookup is None:
            return _NO_POSITION
        return _position_value(self.model, self._lookup, self._position, using)


def page_response(view, rows: SqlRows, queryset: Callable) -> HttpResponse:
    """The list's page in one statement: the view's cursor pagination reads the ordering
    columns and each row's JSON text (evaluated for the page's rows only: Postgres computes a
    costly output column after the sort and limit); `{"next", "previous", "results"}` as the
    paginator answers.

    `queryset()` makes the list's filtered queryset. It runs the first time a request of this
    key comes (a bad filter is a 400 then, before the cursor is read, as for any list) and
    whenever a page's statement must be built; otherwise the kept statement answers."""
    paginator = view.paginator
    columns = [name.lstrip("-") for name in paginator.ordering]
    if "id" not in columns:
        columns.append("id")
    key = _request_key(view, rows)
    kept = KEPT.get(key) if key is not None else None
    if kept is None:
        built = queryset()
        model = built.model
        shapes = KEPT.add(key, model) if key is not None else None
    else:
        built = None
        model, shapes = kept

    def make():
        qs = built if built is not None else queryset()
        return qs.prefetch_related(None).values(*columns).annotate(_dms_row=rows.row(model))

    link = _link_parts(view) if rows.linked(model) else None
    page = view.paginate_queryset(_PageQuery(model, make, shapes, _fill(link)))
    body = (
        '{"next":'
        + json.dumps(paginator.get_next_link())
        + ',"previous":'
        + json.dumps(paginator.get_previous_link())
        + ',"results":['
        + ",".join(row["_dms_row"] for row in page)
        + "]}"
    ).encode()
    return HttpResponse(body, content_type="application/json")
