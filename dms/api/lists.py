"""List rows: what a list endpoint answers for each record, read straight from `.values()`.

A list shows many rows and few fields; the detail endpoint (each row's `url`) has the whole
record. A `RowSerializer` is declared with DRF fields, so the OpenAPI schema describes it like any
serializer, but it writes a row with one loop over a plan made once per response: most values
come out of the database as the JSON wants them (ids, text, choices) and are copied; only
date-times, decimals and the link go through their field. DRF's generic path (attribute lookup,
field by field, row by row) cost more than the query.

    class RepairOrderRow(RowSerializer):
        id = serializers.IntegerField()
        url = DetailLink()
        plate = serializers.CharField(source="vehicle__plate")

    rows = RepairOrderRow.values_of(selectors.repair_order_list(...))
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import ISO_8601, serializers
from rest_framework.settings import api_settings

_MARK = "__pk__"

# fields whose database value is already the JSON value
_AS_IS = (
    serializers.IntegerField,
    serializers.CharField,
    serializers.ChoiceField,
    serializers.BooleanField,
)


def detail_link_parts(view) -> tuple[str, str]:
    """(prefix, suffix) of the absolute URL of a record's detail in the list's own view set:
    a row's link is prefix + id + suffix."""
    url = view.reverse_action("detail", args=[_MARK])
    prefix, _sep, suffix = url.rpartition(_MARK)
    return prefix, suffix


@extend_schema_field(OpenApiTypes.URI)
class DetailLink(serializers.Field):
    """The absolute URL of the row's detail (`…/api/v1/repair-orders/17/`), reversed once per
    response through the list's own view set (so `/followups/` rows link to `/followups/{id}/`)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", "The full record: GET this URL.")
        super().__init__(source="*", read_only=True, **kwargs)
        self._parts: tuple[str, str] | None = None

    def to_representation(self, row) -> str:
        if self._parts is None:
            self._parts = detail_link_parts(self.context["view"])
        pk = row["id"] if isinstance(row, dict) else row.pk
        return f"{self._parts[0]}{pk}{self._parts[1]}"


class RowSerializer(serializers.Serializer):
    """Writes `.values()` rows; see the module's docstring. Read-only.

    The plan is made from the declared fields, once per class: none of the conversions it uses
    depends on the serializer instance, except the link, which is made once per response."""

    @classmethod
    def columns(cls) -> tuple[str, ...]:
        """The values the row needs: every field's source (`customer__name` for a field of a
        related row), and `id`."""
        names = ["id"]
        for name, field in cls._declared_fields.items():
            source = field.source or name
            if source != "*" and source not in names:
                names.append(source)
        return tuple(names)

    @classmethod
    def values_of(cls, qs: QuerySet) -> QuerySet:
        """`qs` as the dictionaries the rows are written from.

        A field of a related row (`customer__name`) is read by a scalar subquery, evaluated
        only for the rows of the page, not by a join: Postgres plans a join under the page's
        LIMIT as a nested loop with a Memoize cache sized for every row of the site, and
        setting that cache up cost ~2 ms per page, ten times the page's own reads."""
        plain, related = [], {}
        for source in cls.columns():
            if "__" in source:
                related[_key(source)] = _related_value(qs.model, source)
            else:
                plain.append(source)
        return qs.annotate(**related).values(*plain, *related)

    @classmethod
    def _plan(cls) -> list[tuple[str, str | None, str]]:
        """[(output name, values() key or None for the link, how to convert)]"""
        plan = cls.__dict__.get("_row_plan")
        if plan is None:
            plan = []
            for name, field in cls._declared_fields.items():
                key = _key(field.source or name)
                if isinstance(field, DetailLink):
                    plan.append((name, None, "link"))
                elif isinstance(field, _AS_IS):
                    plan.append((name, key, "as-is"))
                elif isinstance(field, serializers.DateTimeField) and _iso_in_current_zone(field):
                    plan.append((name, key, "datetime"))
                else:
                    plan.append((name, key, "field"))
            cls._row_plan = plan
        return plan

    def to_representation(self, row: dict) -> dict:
        state = self.__dict__.get("_row_state")
        if state is None:
            link = next(
                (f for f in self._declared_fields.values() if isinstance(f, DetailLink)), None
            )
            if link is not None:
                link = DetailLink()
                link.bind("url", self)
            state = self._row_state = (self._plan(), timezone.get_current_timezone(), link)
        plan, zone, link = state
        out = {}
        for name, source, how in plan:
            if source is None:
                out[name] = link.to_representation(row)
                continue
            value = row[source]
            if value is None or how == "as-is":
                out[name] = value
            elif how == "datetime":
                text = value.astimezone(zone).isoformat()
                out[name] = text[:-6] + "Z" if text.endswith("+00:00") else text
            else:
                out[name] = self._declared_fields[name].to_representation(value)
        return out


@functools.cache
def _related_value(model, source: str) -> Subquery:
    """`customer__name` of a `model` row as a scalar subquery (made once; annotate copies it).
    The first step is a foreign key of the row, or a one-to-one link pointing at it (a call
    task's `repair_order_link__repair_order_id`: the row of the link table that is about it)."""
    fk, attr = source.split("__", 1)
    field = model._meta.get_field(fk)
    if field.concrete:
        rows = field.related_model._base_manager.filter(pk=OuterRef(field.attname))
    else:  # the reverse side of a one-to-one
        rows = field.related_model._base_manager.filter(**{field.field.name: OuterRef("pk")})
    return Subquery(rows.order_by().values(attr)[:1])


def _key(source: str) -> str:
    """The dictionary key `values_of` gives a source: `customer__name` → `rel_customer_name`."""
    return "rel_" + source.replace("__", "_") if "__" in source else source


def _iso_in_current_zone(field: serializers.DateTimeField) -> bool:
    """DRF's default output for a date-time: ISO 8601 in the current time zone."""
    fmt = getattr(field, "format", api_settings.DATETIME_FORMAT)
    return (
        settings.USE_TZ
        and not hasattr(field, "timezone")
        and fmt is not None
        and fmt.lower() == ISO_8601
    )


class RecordRows:
    """A list page written exactly as a `ModelSerializer` writes the records, from `.values()`.

    For the lists whose rows are whole records (vehicles, complaints): the same JSON, field by
    field, as `serializer_class(instances, many=True).data`, without making model instances or
    walking DRF's generic path per attribute. Each field is read from a column: a model field
    by its name, a related row's primary key as `<name>_id`, `customer.name` by a scalar
    subquery (as `RowSerializer.values_of`), a nested serializer of plain fields
    (`owner = CustomerBriefSerializer()`) through a join on the foreign key (one subquery per
    nested field cost more to build than the page), its row null when the key is. Anything else (a method field, a property, users' names, a many-to-many list) is given
    by `computed`: {field name: function(row, page) -> value}, where `page` is what
    `prepare(rows)` returned (read once for the whole page: the users named on it, today).
    A test holds each list equal to its serializer's output.
    """

    def __init__(self, serializer_class, *, computed=None, prepare=None, columns=()):
        self.serializer_class = serializer_class
        self.computed = computed or {}
        self.prepare = prepare
        self.columns = tuple(columns)  # more columns the computed fields read
        self._plan = None

    def _make_plan(self, model):
        fields = self.serializer_class().fields
        plan, plain, related = [], ["id"], {}

        def column(source: str, join: bool = False) -> str:
            if "__" in source and not join:
                key = _key(source)
                related.setdefault(key, _related_value(model, source))
                return key
            if source not in plain:
                plain.append(source)
            return source

        for name, field in fields.items():
            if name in self.computed:
                plan.append((name, "computed", None, None))
            elif isinstance(field, serializers.PrimaryKeyRelatedField):
                plan.append(
                    (name, "as-is", column(model._meta.get_field(field.source).attname), None)
                )
            elif isinstance(field, serializers.Serializer):
                fk = model._meta.get_field(field.source)
                sub = [
                    (sub_name, column(f"{field.source}__{sub_field.source}", join=True), sub_field)
                    for sub_name, sub_field in field.fields.items()
                ]
                plan.append((name, "nested", column(fk.attname), sub))
            else:
                plan.append((name, "field", column(field.source.replace(".", "__")), field))
        for source in self.columns:
            column(source)
        return plan, plain, related

    def values_of(self, qs: QuerySet) -> QuerySet:
        """`qs` as the dictionaries the rows are written from (prefetches dropped: the rows
        are not model instances)."""
        if self._plan is None:
            self._plan = self._make_plan(qs.model)
        _plan, plain, related = self._plan
        return qs.prefetch_related(None).annotate(**related).values(*plain, *related)

    def write(self, rows: list[dict]) -> list[dict]:
        page = self.prepare(rows) if self.prepare is not None else None
        plan, computed = self._plan[0], self.computed
        out = []
        for row in rows:
            item = {}
            for name, how, key, extra in plan:
                if how == "computed":
                    item[name] = computed[name](row, page)
                    continue
                value = row[key]
                if value is None or how == "as-is":
                    item[name] = value
                elif how == "nested":
                    item[name] = {sub: _plain(row[sub_key], f) for sub, sub_key, f in extra}
                else:
                    item[name] = _plain(value, extra)
            out.append(item)
        return out


def _plain(value, field):
    """A value as `field` writes it: as it comes from the database where that is already the
    JSON value, else through the field."""
    if value is None or isinstance(field, _AS_IS):
        return value
    return field.to_representation(value)
