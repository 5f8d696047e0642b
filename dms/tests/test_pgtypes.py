"""Date-times read from PostgreSQL by psycopg's C parser (dms.pgtypes) are the values Django's
own loader gives, with the same time zone object, through the ORM and raw cursors."""

import datetime as dt
from zoneinfo import ZoneInfo

import psycopg
import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.backends.postgresql.psycopg_any import register_tzloader
from psycopg.pq import Format

from dms.models import AuditEntry

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

SHANGHAI = ZoneInfo("Asia/Shanghai")
VALUES = [
    dt.datetime(2026, 12, 6, 23, 59, 59, 999999, tzinfo=dt.UTC),
    dt.datetime(2026, 3, 29, 1, 30, tzinfo=ZoneInfo("Europe/Berlin")),  # a DST change
    dt.datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=ZoneInfo("Europe/Berlin")),
    dt.datetime(2000, 1, 1, 8, 0, 0, 1, tzinfo=SHANGHAI),
    dt.datetime(1900, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=45))),
    dt.datetime(9999, 12, 31, 23, 59, tzinfo=dt.UTC),
]


def _loader_class():
    connection.ensure_connection()
    oid = psycopg.postgres.types["timestamptz"].oid
    return connection.connection.adapters.get_loader(oid, Format.TEXT)


def test_the_connection_reads_date_times_with_the_c_parser():
    loader = _loader_class()
    assert loader.__module__ == "dms.pgtypes"
    assert loader.timezone == connection.timezone  # so Django keeps it on every cursor


def test_values_equal_what_djangos_loader_reads():
    sql = "SELECT v FROM unnest(%s::timestamptz[]) AS v"
    with connection.cursor() as cursor:
        cursor.execute(sql, [VALUES])
        fast = [row[0] for row in cursor.fetchall()]
    with connection.cursor() as cursor:
        register_tzloader(connection.timezone, cursor.cursor)  # Django's own, on this cursor
        cursor.execute(sql, [VALUES])
        django = [row[0] for row in cursor.fetchall()]
    assert fast == django == [v.astimezone(dt.UTC) for v in VALUES]
    assert [v.tzinfo for v in fast] == [v.tzinfo for v in django] == [connection.timezone] * 6
    assert [v.utcoffset() for v in fast] == [dt.timedelta(0)] * 6


def test_the_orm_reads_a_stored_date_time_back_unchanged():
    at = dt.datetime(2026, 12, 6, 16, 5, 7, 123456, tzinfo=SHANGHAI)
    entry = AuditEntry.objects.create(
        content_type=ContentType.objects.get_for_model(AuditEntry), object_id=1, action="test"
    )
    AuditEntry.objects.filter(pk=entry.pk).update(at=at)
    read = AuditEntry.objects.values_list("at", flat=True).get(pk=entry.pk)
    assert read == at
    assert read.tzinfo is connection.timezone
