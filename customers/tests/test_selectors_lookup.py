import pytest
from django.db import connection, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from customers.models import Customer
from customers.selectors import lookup, possible_duplicates, vehicle_history
from customers.tests.factories import CustomerFactory, VehicleFactory, make_vin
from dms.tests.factories import SiteFactory
from workorders.tests.factories import call_task_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def archive(site):
    wang = CustomerFactory(site=site, name="王建国", phone="+8613812345678")
    car = VehicleFactory(owner=wang, vin=make_vin(424242), plate="沪AD12345")
    li = CustomerFactory(site=site, name="李娜", phone="+8613900001111", phone2="+862168886666")
    VehicleFactory(owner=li, vin=make_vin(777), plate="沪B67890")
    return {"wang": wang, "car": car, "li": li}


def names(hits):
    return [h.customer.name for h in hits]


@pytest.mark.parametrize(
    ("q", "key"),
    [
        ("沪ad 12345", "plate"),
        ("沪 A D 1 2 3 4 5", "plate"),
        ("AD12345", "plate"),  # without the province character
        ("d1234", "plate"),  # part of a plate
    ],
)
def test_by_plate_any_case_and_spaces(archive, site, q, key):
    hits = lookup(site_ids=[site.pk], q=q)
    assert names(hits) == ["王建国"]
    assert key in hits[0].matched_on
    assert hits[0].matched_vehicle_ids == {archive["car"].pk}


def test_by_full_vin_and_last_six(archive, site):
    vin = archive["car"].vin
    assert names(lookup(site_ids=[site.pk], q=vin.lower())) == ["王建国"]
    hits = lookup(site_ids=[site.pk], q=vin[-6:])
    assert names(hits) == ["王建国"]
    assert hits[0].matched_on == ["vin_last6"]


@pytest.mark.parametrize("q", ["138 1234 5678", "+86-138-1234-5678", "13812345678"])
def test_by_phone_any_format(archive, site, q):
    hits = lookup(site_ids=[site.pk], q=q)
    assert names(hits) == ["王建国"]
    assert hits[0].matched_on == ["phone"]


def test_by_second_phone(archive, site):
    assert names(lookup(site_ids=[site.pk], q="021 6888 6666")) == ["李娜"]


@pytest.mark.parametrize(
    "q",
    [
        "沪ＡＤ１２３４５",  # what a Chinese keyboard types in full width
        "沪ａｄ　１２３４５",  # full-width lower case and the ideographic space
        "１３８１２３４５６７８",
    ],
)
def test_full_width_characters_count_as_ordinary_ones(archive, site, q):
    assert names(lookup(site_ids=[site.pk], q=q)) == ["王建国"]


def test_by_last_four_digits_of_a_phone(archive, site):
    hits = lookup(site_ids=[site.pk], q="5678")
    assert names(hits) == ["王建国"]
    assert hits[0].matched_on == ["phone_tail"]
    # the second phone too, and in full width
    assert names(lookup(site_ids=[site.pk], q="６６６６")) == ["李娜"]


@pytest.mark.parametrize("q", ["王", "王建", "建国", "王建国"])
def test_by_part_of_a_name(archive, site, q):
    assert names(lookup(site_ids=[site.pk], q=q)) == ["王建国"]


@pytest.mark.parametrize("q", ["wei trad", "WEI TRAD", "Wei Trading"])
def test_by_part_of_a_latin_name_in_any_case(archive, site, q):
    CustomerFactory(site=site, name="Zhang Wei Trading", phone="+8613700002222")
    assert names(lookup(site_ids=[site.pk], q=q)) == ["Zhang Wei Trading"]


def test_a_latin_name_part_is_matched_as_typed_not_as_a_pattern(archive, site):
    CustomerFactory(site=site, name="A_B Logistics", phone="+8613700003333")
    CustomerFactory(site=site, name="AXB Logistics", phone="+8613700004444")
    # _ and % are characters of the name, not LIKE's wildcards
    assert names(lookup(site_ids=[site.pk], q="a_b")) == ["A_B Logistics"]
    assert names(lookup(site_ids=[site.pk], q="%%%")) == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="Postgres's plan")
def test_a_latin_name_part_is_searched_through_the_trigram_index(site):
    """Django's icontains (UPPER(name) LIKE UPPER(…)) cannot use the trigram index on the name:
    a miss read every customer of the site (25 ms at the group dataset). The lookup's condition
    must be one the index answers (ILIKE)."""
    from dms.lookups import ContainsAnyCase

    CustomerFactory.create_batch(30, site=site)
    qs = Customer.objects.filter(ContainsAnyCase(F("name"), "UPKG")).values("id")
    sql, params = qs.query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "customers_customer_name_trgm" in plan, plan
    # and the lookup asks it so
    with CaptureQueriesContext(connection) as ctx:
        lookup(site_ids=[site.pk], q="UPKG")
    name_queries = [q["sql"] for q in ctx.captured_queries if "ILIKE" in q["sql"]]
    assert len(name_queries) == 1
    assert '"customers_customer"."name"::text ILIKE' in name_queries[0]


def test_other_sites_never_show(archive):
    other = SiteFactory()
    assert lookup(site_ids=[other.pk], q="王建国") == []
    assert lookup(site_ids=[other.pk], q=archive["car"].vin) == []


def test_merged_customer_left_out(archive, site):
    archive["li"].merged_into = archive["wang"]
    archive["li"].save()
    assert lookup(site_ids=[site.pk], q="李娜") == []


def test_shows_vehicles_last_visit_and_open_work(archive, site):
    from workorders.tests.factories import RepairOrderFactory

    RepairOrderFactory(vehicle=archive["car"], status="in_progress", number="RO-1")
    hit = lookup(site_ids=[site.pk], q="王建国")[0]
    assert [v.plate for v in hit.vehicles] == ["沪AD12345"]
    assert [ro.number for ro in hit.open_repair_orders] == ["RO-1"]
    assert hit.last_visit_at is not None


def test_query_count_does_not_grow(site, django_assert_max_num_queries):
    for i in range(30):
        c = CustomerFactory(site=site, name=f"张{i:02d}")
        VehicleFactory(owner=c)
        VehicleFactory(owner=c)
    with django_assert_max_num_queries(6):
        hits = lookup(site_ids=[site.pk], q="张", limit=20)
        assert len(hits) == 20
        assert all(len(h.vehicles) == 2 for h in hits)


def test_customers_and_their_vehicles_are_one_query_and_one_more_for_those_without(site):
    """Each hit's vehicles by plate, as `customer.vehicles.all()` answers them with no query of
    its own; a customer without a vehicle is still a hit, read by a second query only then."""
    zhang = [CustomerFactory(site=site, name=f"张{i}") for i in range(3)]
    for plate in ("沪C3", "沪A1", "沪B2"):
        VehicleFactory(owner=zhang[0], plate=plate)
    VehicleFactory(owner=zhang[1], plate="沪D4")
    with CaptureQueriesContext(connection) as ctx:
        hits = {h.customer.pk: h for h in lookup(site_ids=[site.pk], q="张")}
    # the name match, the customers with their vehicles, the one without, the open work
    assert len(ctx.captured_queries) == 4
    assert [v.plate for v in hits[zhang[0].pk].vehicles] == ["沪A1", "沪B2", "沪C3"]
    assert [v.plate for v in hits[zhang[1].pk].vehicles] == ["沪D4"]
    assert hits[zhang[2].pk].vehicles == []
    with CaptureQueriesContext(connection) as ctx:
        listed = {pk: [v.plate for v in h.customer.vehicles.all()] for pk, h in hits.items()}
        owners = {v.owner.pk for v in hits[zhang[0].pk].vehicles}
    assert ctx.captured_queries == []
    assert listed == {zhang[0].pk: ["沪A1", "沪B2", "沪C3"], zhang[1].pk: ["沪D4"], zhang[2].pk: []}
    assert owners == {zhang[0].pk}
    # with a vehicle each, one query fewer
    VehicleFactory(owner=zhang[2], plate="沪E5")
    with CaptureQueriesContext(connection) as ctx:
        assert len(lookup(site_ids=[site.pk], q="张")) == 3
    assert len(ctx.captured_queries) == 3


def test_possible_duplicates_by_phone_or_name_and_plate(archive, site):
    assert possible_duplicates(site=site, phone="138-1234-5678") == [archive["wang"]]
    assert possible_duplicates(site=site, name="王建国", plate="沪AD 12345") == [archive["wang"]]
    assert possible_duplicates(site=site, name="王建国", plate="沪A99999") == []


def test_history_newest_first_with_lines_followup_and_complaints(
    site, django_assert_max_num_queries
):
    from datetime import timedelta

    from django.utils import timezone

    from workorders.tests.factories import JobLineFactory, PartLineFactory, RepairOrderFactory

    car = VehicleFactory(owner__site=site)
    old = RepairOrderFactory(vehicle=car, odometer_km=10000, status="delivered", number="RO-OLD")
    new = RepairOrderFactory(vehicle=car, odometer_km=20000, status="delivered", number="RO-NEW")
    type(old).objects.filter(pk=old.pk).update(opened_at=timezone.now() - timedelta(days=200))
    PartLineFactory(job=JobLineFactory(repair_order=new, description="换机油"))
    now = timezone.now()
    call_task_create(
        site=site,
        kind="followup",
        source_key=f"ro:{new.pk}",
        customer=car.owner,
        vehicle=car,
        repair_order=new,
        due_at=now,
        due_until=now,
        status="done",
        outcome="reached",
        satisfaction=5,
    )
    with django_assert_max_num_queries(7):
        visits = vehicle_history(vehicle=car)
    assert [v.repair_order.number for v in visits] == ["RO-NEW", "RO-OLD"]
    assert visits[0].mileage_km == 20000
    assert [line.description for line in visits[0].lines] == ["换机油"]
    assert visits[0].followup.satisfaction == 5
    assert visits[1].followup is None
    assert visits[0].complaints == []
