"""The API lists' pages written by Postgres (dms.api.sqlrows) are the pages the serializers
write: the same rows, fields, values and links, in every time zone, for awkward values (text
that JSON must escape, names with and without CJK, microseconds or none, decimals, missing
related rows), and the statement is prepared on the connection that runs it."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from customers.tests.factories import CustomerFactory, VehicleFactory
from dms.api import sqlrows
from dms.models import Role
from followups.models import Complaint
from outreach.models import CallTask, TaskKind, TaskStatus
from workorders.models import RepairOrder
from workorders.services.calls import task_link
from workorders.tests.factories import RepairOrderFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

LISTS = (
    "/api/v1/repair-orders/",
    "/api/v1/customers/",
    "/api/v1/vehicles/",
    "/api/v1/call-tasks/?all=1",  # a filter: the page is built for every request
    "/api/v1/call-tasks/",  # a manager's: every task, its statement kept (dms.api.sqlrows)
    "/api/v1/complaints/",
)
AWKWARD = 'a "quoted" \\ back\\slash\nnew line\ttab 😀 王芳'


@pytest.fixture
def records(site, make_user):
    """A site whose rows hold every kind of value the lists write."""
    advisor = make_user(Role.ADVISOR, first_name=" 建国 ", last_name="李")
    nameless = make_user(Role.TECHNICIAN, username="tech-no-name", first_name="", last_name="")
    latin = make_user(Role.FOLLOWUP_AGENT, first_name="Anna", last_name="")
    exact = timezone.now().replace(microsecond=0) - dt.timedelta(days=2)
    fine = exact + dt.timedelta(microseconds=123400)
    owner = CustomerFactory(site=site, name=AWKWARD, phone="+8613800001111", email="")
    other = CustomerFactory(site=site, name="Anna Smith", phone="")
    cars = [
        VehicleFactory(owner=owner, site=site, plate="沪A12345", warranty_end=timezone.localdate()),
        VehicleFactory(owner=other, site=site, plate="", warranty_end=None, mileage_km=12345),
    ]
    ros = []
    for i, car in enumerate(cars * 2):
        ro = RepairOrderFactory(site=site, vehicle=car, customer=car.owner, advisor=advisor)
        RepairOrder.objects.filter(pk=ro.pk).update(
            opened_at=fine if i % 2 else exact,
            promised_at=None if i else fine,
            grand_total=Decimal("1234.5") if i == 1 else Decimal("0"),
        )
        ros.append(ro)
    for i, car in enumerate(cars):
        task = CallTask.objects.create(
            site=site,
            kind=TaskKind.FOLLOWUP,
            channel="call",
            source_key=f"sql-rows:{i}",
            customer=car.owner,
            vehicle=car if i else None,
            due_at=fine,
            due_until=exact + dt.timedelta(days=3),
            status=TaskStatus.DONE if i else TaskStatus.OPEN,
            outcome="reached" if i else "",
            completed_at=exact if i else None,
            assignee=latin if i else None,
        )
        if i:
            task_link(task=task, repair_order=ros[0])
    for i in range(3):
        complaint = Complaint.objects.create(
            site=site,
            channel="inbound_call",
            customer=owner,
            vehicle=cars[0] if i else None,
            repair_order=ros[0] if i else None,
            advisor=advisor if i else None,
            handler=latin if i == 2 else None,
            description=AWKWARD,
            # two days late, due tomorrow, due in four days: never "now", which the page
            # written by Postgres and the one written by the serializers, read a moment apart,
            # could see on either side (i=2 was fine + 2 days: ~0.1 s after the fixture ran)
            respond_by=fine + dt.timedelta(days=3 * i),
            remedy_cost=Decimal("120.5") if i == 1 else Decimal("0"),
        )
        if i == 1:
            complaint.technicians.add(nameless, advisor)
    return ros


def both_ways(client, url: str, monkeypatch) -> tuple[dict, dict, int]:
    """The page as Postgres writes it (and how many pages it wrote), and as the serializers
    do."""
    written = []
    run = sqlrows._run_page

    def counted(statement, using, values):
        written.append(statement.sql)
        return run(statement, using, values)

    with monkeypatch.context() as m:
        m.setattr(sqlrows, "_run_page", counted)
        fast = client.get(url)
    assert fast.status_code == 200, fast.content
    with monkeypatch.context() as m:
        m.setattr(sqlrows, "available", lambda: False)
        slow = client.get(url)
    assert slow.status_code == 200, slow.content
    return fast.json(), slow.json(), len(written)


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "America/New_York", "UTC"])
@pytest.mark.parametrize("path", LISTS)
def test_the_page_postgres_writes_is_the_serializers_page(
    api_as, records, settings, monkeypatch, zone, path
):
    settings.TIME_ZONE = zone
    client = api_as(Role.MANAGER)
    url = path + ("&" if "?" in path else "?") + "page_size=1"
    pages = 0
    while url:
        fast, slow, written = both_ways(client, url, monkeypatch)
        assert written == 1  # the page was written by Postgres, not by the serializers
        assert fast == slow
        assert fast["results"]
        url = slow["next"]
        pages += 1
        assert pages <= 10, url
    assert pages >= 2


def test_values_are_written_as_the_api_always_wrote_them(api_as, records, settings):
    settings.TIME_ZONE = "America/New_York"
    client = api_as(Role.MANAGER)
    ros = client.get("/api/v1/repair-orders/").json()["results"]
    opened = {r["opened_at"] for r in ros}
    # microseconds only when there are any; the zone's offset, not UTC
    assert any(value.endswith(".123400-05:00") for value in opened)
    assert any(len(value) == len("2026-12-03T09:00:00-05:00") for value in opened)
    assert {r["grand_total"] for r in ros} == {"1234.50", "0.00"}
    customers = client.get("/api/v1/customers/").json()["results"]
    assert AWKWARD in {c["name"] for c in customers}
    complaints = client.get("/api/v1/complaints/").json()["results"]
    named = {t["username"]: t["name"] for c in complaints for t in c["technicians"]}
    assert named["tech-no-name"] == "tech-no-name"  # no name: the username
    assert "李建国" in named.values()  # family name first, no space, trimmed
    settings.TIME_ZONE = "UTC"
    ros = client.get("/api/v1/repair-orders/").json()["results"]
    assert all(r["opened_at"].endswith("Z") for r in ros)


def test_the_statement_is_prepared_on_the_connection(api_as, records):
    client = api_as(Role.MANAGER)
    for _ in range(sqlrows.PREPARE_AFTER + 1):
        assert client.get("/api/v1/vehicles/").status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any("json_build_object" in s and "customers_vehicle" in s for s in prepared)


def test_an_empty_page_and_the_browsable_api(api_as, site):
    client = api_as(Role.MANAGER)
    body = client.get("/api/v1/vehicles/").json()
    assert body == {"next": None, "previous": None, "results": []}
    html = client.get("/api/v1/vehicles/", HTTP_ACCEPT="text/html")
    assert html.status_code == 200
    assert html["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    ("call", "body"),
    [
        ("dms_person_name(first_name, last_name, username)", "concat_ws"),
        ("dms_iso(date_joined, 'Asia/Shanghai')", "to_char"),
        (
            "dms_iso_at(date_joined, 'Asia/Shanghai', interval '8 hours', '+08:00', "
            "interval '8 hours', '+08:00')",
            "to_char",
        ),
    ],
)
def test_the_sql_functions_are_inlined_into_the_statement(call, body):
    """A SQL function Postgres cannot inline runs through its function executor once per row
    (dms migration 0009: dms_person_name declared IMMUTABLE around concat_ws, which is STABLE,
    was never inlined)."""
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (VERBOSE) SELECT {call} FROM auth_user")  # noqa: S608 (constants)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert call.split("(")[0] not in plan
    assert body in plan


@pytest.mark.parametrize(
    "zone",
    [
        "Asia/Shanghai",  # no daylight saving time since 1991 (+09:00 in the summers before)
        "America/New_York",  # -05:00 / -04:00, the changes moved in 2007
        "Europe/London",  # +00:00 in winter: "Z"
        "UTC",
        "Asia/Kolkata",  # +05:30
        "Asia/Kathmandu",  # +05:45
        "Australia/Lord_Howe",  # +11:00 in January, +10:30 in July
    ],
)
def test_a_date_time_is_written_as_drf_writes_it(settings, zone):
    """dms_iso_at writes what DRF's DateTimeField writes: the local time, microseconds only
    when there are any (trailing zeros kept), the offset of that moment: one of the year's two
    (looked up) or another (written out), "Z" for zero."""
    from zoneinfo import ZoneInfo

    from rest_framework import serializers

    settings.TIME_ZONE = zone
    tz = ZoneInfo(zone)
    offsets = sqlrows.zone_offsets(tz, dt.datetime(2026, 12, 7, tzinfo=dt.UTC))
    moments = []
    for year in (2026, 2027, 2005, 1988, 1970):
        for month in range(1, 13):
            for day, micro in ((1, 0), (15, 500000), (28, 123456), (9, 1)):
                moments.append(dt.datetime(year, month, day, 3, 7, 9, micro, tzinfo=dt.UTC))
    # around this year's changes, hour by hour
    for start in (dt.datetime(2026, 3, 7, tzinfo=dt.UTC), dt.datetime(2026, 10, 31, tzinfo=dt.UTC)):
        moments += [start + dt.timedelta(minutes=30 * i) for i in range(24 * 2 * 3)]
    field = serializers.DateTimeField()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT m, dms_iso_at(m, %s, %s, %s, %s, %s) FROM unnest(%s::timestamptz[]) AS m",
            [zone, *offsets, moments],
        )
        written = dict(cursor.fetchall())
    assert len(written) == len(set(moments))
    wrong = {
        m.isoformat(): (text, field.to_representation(m))
        for m, text in written.items()
        if text != field.to_representation(m)
    }
    assert not wrong
    cursor = connection.cursor()
    cursor.execute("SELECT dms_iso_at(NULL, %s, %s, %s, %s, %s)", [zone, *offsets])
    assert cursor.fetchone()[0] is None


def test_the_zone_offsets_of_the_year():
    from zoneinfo import ZoneInfo

    at = dt.datetime(2026, 12, 7, tzinfo=dt.UTC)
    hour = dt.timedelta(hours=1)
    assert sqlrows.zone_offsets(ZoneInfo("Asia/Shanghai"), at) == (8 * hour, "+08:00") * 2
    assert sqlrows.zone_offsets(ZoneInfo("America/New_York"), at) == (
        -5 * hour,
        "-05:00",
        -4 * hour,
        "-04:00",
    )
    assert sqlrows.zone_offsets(ZoneInfo("Europe/London"), at) == (
        dt.timedelta(0),
        "Z",
        hour,
        "+01:00",
    )
    assert sqlrows.zone_offsets(ZoneInfo("Asia/Kathmandu"), at)[1] == "+05:45"
