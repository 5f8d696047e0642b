"""The big lists' contract: cursor pages that walk every row once in a fixed order, rows that are
summaries with a link to the full record, and a clear 400 for a cursor the server did not give."""

import base64
import datetime as dt
import json
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework import serializers

from customers.tests.factories import CustomerFactory, VehicleFactory
from dms.api.lists import DetailLink, RowSerializer
from dms.models import Role
from workorders.models import RepairOrder, ROStatus
from workorders.tests.factories import RepairOrderFactory

pytestmark = pytest.mark.django_db


def walk(client, url: str) -> list[dict]:
    """Every row of a list, following `next`; fails if a page repeats a row."""
    rows, pages = [], 0
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.json()
        body = response.json()
        assert set(body) == {"next", "previous", "results"}
        rows += body["results"]
        url = body["next"]
        pages += 1
        assert pages < 100
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)), "a row came twice"
    return rows


@pytest.fixture
def ros(site):
    """23 repair orders; several share an opening minute, as walk-ins at a busy desk do."""
    vehicle = VehicleFactory(owner=CustomerFactory(site=site), site=site)
    base = timezone.now().replace(second=0, microsecond=0) - dt.timedelta(days=3)
    made = []
    for i in range(23):
        ro = RepairOrderFactory(site=site, vehicle=vehicle, customer=vehicle.owner)
        RepairOrder.objects.filter(pk=ro.pk).update(opened_at=base + dt.timedelta(minutes=i // 4))
        made.append(ro)
    return made


def test_repair_orders_are_walked_newest_first_each_once(api_as, ros):
    # given a manager and 23 repair orders, four to an opening minute
    client = api_as(Role.MANAGER)

    # when they page through 5 at a time
    rows = walk(client, "/api/v1/repair-orders/?page_size=5")

    # then they saw every repair order once, newest first (the id breaks a tie)
    opened = dict(RepairOrder.objects.values_list("pk", "opened_at"))
    assert [r["id"] for r in rows] == sorted(opened, key=lambda pk: (opened[pk], pk), reverse=True)


def test_previous_goes_back_to_the_same_rows(api_as, ros):
    client = api_as(Role.MANAGER)
    first = client.get("/api/v1/repair-orders/?page_size=5").json()
    second = client.get(first["next"]).json()
    assert second["previous"]
    back = client.get(second["previous"]).json()
    assert [r["id"] for r in back["results"]] == [r["id"] for r in first["results"]]


def test_a_row_is_a_summary_linking_to_the_full_record(api_as, ros):
    client = api_as(Role.MANAGER)
    [row] = client.get("/api/v1/repair-orders/?page_size=1").json()["results"]
    assert set(row) == {
        "id",
        "url",
        "number",
        "status",
        "opened_at",
        "promised_at",
        "delivered_at",
        "customer",
        "customer_name",
        "vehicle",
        "plate",
        "advisor",
        "grand_total",
    }
    detail = client.get(row["url"])
    assert detail.status_code == 200
    assert detail.json()["id"] == row["id"]
    assert detail.json()["number"] == row["number"]
    assert "lines" in detail.json()


def test_filters_hold_across_pages(api_as, ros):
    RepairOrder.objects.filter(pk__in=[ro.pk for ro in ros[:7]]).update(status="cancelled")
    client = api_as(Role.MANAGER)
    rows = walk(client, "/api/v1/repair-orders/?status=cancelled&page_size=3")
    assert sorted(r["id"] for r in rows) == sorted(ro.pk for ro in ros[:7])
    assert {r["status"] for r in rows} == {"cancelled"}


def test_a_row_added_while_paging_is_not_repeated_nor_shifts_the_rest(api_as, ros):
    client = api_as(Role.MANAGER)
    first = client.get("/api/v1/repair-orders/?page_size=5").json()
    # a new repair order opens (it is the newest) before the client asks for page 2
    RepairOrderFactory(site=ros[0].site, vehicle=ros[0].vehicle, customer=ros[0].customer)
    rows = first["results"] + walk(client, first["next"])
    assert sorted(r["id"] for r in rows) == sorted(ro.pk for ro in ros)


def test_customers_and_call_tasks_are_cursor_pages_too(api_as, site):
    for name in ("王芳", "李娜", "张伟", "陈静"):
        CustomerFactory(site=site, name=name)
    client = api_as(Role.MANAGER)
    rows = walk(client, "/api/v1/customers/?page_size=3")
    names = [r["name"] for r in rows]
    assert names == sorted(names)
    assert len(rows) == 4
    assert client.get(rows[0]["url"]).json()["name"] == rows[0]["name"]
    assert set(client.get("/api/v1/call-tasks/").json()) == {"next", "previous", "results"}


def cursor(**tokens) -> str:
    return base64.b64encode("&".join(f"{k}={v}" for k, v in tokens.items()).encode()).decode()


@pytest.mark.parametrize(
    "value",
    ["not-base64!", cursor(p="yesterday"), cursor(o="-1"), cursor(o="x"), cursor(p="a\x00")],
)
def test_a_cursor_the_server_did_not_give_is_a_400_naming_it(api_as, ros, value):
    response = api_as(Role.MANAGER).get("/api/v1/repair-orders/", {"cursor": value})
    assert response.status_code == 400
    assert "cursor" in response.json()["fields"]


def test_page_size_is_25_by_default_and_at_most_100(api_as, site):
    vehicle = VehicleFactory(owner=CustomerFactory(site=site), site=site)
    RepairOrderFactory.create_batch(101, site=site, vehicle=vehicle, customer=vehicle.owner)
    client = api_as(Role.MANAGER)
    assert len(client.get("/api/v1/repair-orders/").json()["results"]) == 25
    body = client.get("/api/v1/repair-orders/?page_size=500").json()
    assert len(body["results"]) == 100
    assert parse_qs(urlsplit(body["next"]).query)["page_size"] == ["500"]


# --- the row writer ----------------------------------------------------------------------------
class Generic(serializers.Serializer):
    """DRF's generic path, over model instances."""

    id = serializers.IntegerField()
    number = serializers.CharField()
    status = serializers.ChoiceField(ROStatus.choices)
    opened_at = serializers.DateTimeField()
    promised_at = serializers.DateTimeField(allow_null=True)
    opened_day = serializers.DateField()
    grand_total = serializers.DecimalField(max_digits=10, decimal_places=2)
    customer_name = serializers.CharField(source="customer.name")
    plate = serializers.CharField(source="vehicle.plate")


class Fast(RowSerializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    status = serializers.ChoiceField(ROStatus.choices)
    opened_at = serializers.DateTimeField()
    promised_at = serializers.DateTimeField(allow_null=True)
    opened_day = serializers.DateField()
    grand_total = serializers.DecimalField(max_digits=10, decimal_places=2)
    customer_name = serializers.CharField(source="customer__name")
    plate = serializers.CharField(source="vehicle__plate")


def test_a_row_is_written_exactly_as_drf_writes_the_record(ros):
    # given repair orders with and without a promised time, with a total in cents
    RepairOrder.objects.filter(pk=ros[0].pk).update(
        promised_at=timezone.now(), grand_total=Decimal("1234.5")
    )
    qs = RepairOrder.objects.order_by("-opened_at", "-id")
    # when the row writer writes them from values, one query, the related fields by subquery
    with CaptureQueriesContext(connection) as ctx:
        fast = Fast(list(Fast.values_of(qs)), many=True).data
    assert len(ctx.captured_queries) == 1
    # then each row is what DRF's generic serializer makes of the model instance
    assert fast == Generic(qs.select_related("customer", "vehicle"), many=True).data
    assert Fast.columns()[:2] == ("id", "number")
    assert "customer__name" in Fast.columns()


def test_the_row_link_is_the_detail_of_the_list_it_is_in(api_as, site):
    class Row(RowSerializer):
        id = serializers.IntegerField()
        url = DetailLink()

    from followups.apis import FollowupViewSet

    view = FollowupViewSet()
    request = api_as(Role.MANAGER).get("/api/v1/followups/").wsgi_request
    view.request, view.basename = request, "followup"
    view.format_kwarg = None
    data = Row([{"id": 5}, {"id": 6}], many=True, context={"view": view, "request": request}).data
    assert [r["url"] for r in data] == [
        "http://testserver/api/v1/followups/5/",
        "http://testserver/api/v1/followups/6/",
    ]


def _as_json(data) -> list[dict]:
    from rest_framework.renderers import JSONRenderer

    return json.loads(JSONRenderer().render(data))


def test_vehicle_rows_are_what_the_vehicle_serializer_writes(api_as, site):
    from customers.apis import VehicleSerializer
    from customers.models import Vehicle

    # given vehicles with and without a plate, in and out of warranty, of two owners
    today = timezone.localdate()
    owner = CustomerFactory(site=site, name="王芳", phone="+8613800001111")
    other = CustomerFactory(site=site, name="Anna Smith", phone="")
    VehicleFactory(owner=owner, site=site, plate="沪A12345", warranty_end=today)
    VehicleFactory(owner=owner, site=site, plate="", warranty_end=today - dt.timedelta(days=1))
    VehicleFactory(owner=other, site=site, plate="沪B00001", warranty_end=None)
    VehicleFactory(owner=other, site=site, plate="沪B00002", mileage_km=12345)
    # when a manager pages through the list
    rows = walk(api_as(Role.MANAGER), "/api/v1/vehicles/?page_size=3")
    # then every row is what the serializer writes of the record, in the list's order
    expected = VehicleSerializer(Vehicle.objects.order_by("plate", "id"), many=True).data
    assert rows == _as_json(expected)


def test_complaint_rows_are_what_the_complaint_serializer_writes(api_as, site, make_user):
    from followups.apis import ComplaintSerializer
    from followups.models import Complaint

    # given complaints with and without a repair order, handler and technicians, one overdue
    advisor = make_user(Role.ADVISOR, first_name="建国", last_name="李")
    handler = make_user(Role.FOLLOWUP_AGENT, first_name="Anna", last_name="Smith")
    techs = [make_user(Role.TECHNICIAN, username=f"tech{i}") for i in range(2)]
    vehicle = VehicleFactory(owner=CustomerFactory(site=site), site=site)
    ro = RepairOrderFactory(site=site, vehicle=vehicle, customer=vehicle.owner, advisor=advisor)
    now = timezone.now()
    made = []
    for i in range(5):
        made.append(
            Complaint.objects.create(
                site=site,
                channel="inbound_call",
                customer=vehicle.owner,
                vehicle=vehicle if i % 2 else None,
                repair_order=ro if i % 2 else None,
                advisor=advisor if i % 2 else None,
                handler=handler if i == 3 else None,
                description=f"刹车异响 {i}",
                respond_by=now + dt.timedelta(hours=2 * i - 3),
                remedy_cost=Decimal("120.5") if i == 1 else Decimal("0"),
            )
        )
    made[1].technicians.add(*techs)
    made[3].technicians.add(techs[1])
    # when an advisor pages through the list
    rows = walk(api_as(Role.ADVISOR), "/api/v1/complaints/?page_size=2")
    # then every row is what the serializer writes of the record, most urgent first
    qs = Complaint.objects.order_by("respond_by", "id").prefetch_related("technicians")
    assert [r["overdue"] for r in rows] == [True, True, False, False, False]
    assert rows == _as_json(ComplaintSerializer(qs, many=True).data)


def test_a_page_ending_on_a_blank_position_goes_on_after_it(api_as, site):
    """Vehicles are paged by plate; a page that ends on a car without a plate (position "")
    used to start the next page from the beginning again, for ever."""
    owner = CustomerFactory(site=site)
    for plate in ("", "", "沪A00001", "沪A00002"):
        VehicleFactory(owner=owner, site=site, plate=plate)
    rows = walk(api_as(Role.MANAGER), "/api/v1/vehicles/?page_size=1")
    assert [r["plate"] for r in rows] == ["", "", "沪A00001", "沪A00002"]
