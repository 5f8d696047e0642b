"""Query-count guards: the pages and API lists SPEC §9 budgets run a fixed number of SQL
queries however many rows they show. Each test counts the queries with one row, adds many more
rows, and fails if the page now needs more queries (an N+1 came back). Timings are measured by
the scripts in bench/, never here."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from appointments.models import Appointment
from customers.tests.factories import CustomerFactory, VehicleFactory
from dms.models import Role
from dms.tests.factories import make_staff
from followups.models import Complaint
from outreach.models import TaskKind
from workorders.models import JobLine, ROStatus
from workorders.tests.factories import (
    JobLineFactory,
    PartLineFactory,
    RepairOrderFactory,
    call_task_create,
)
from workshop.models import ClockEntry, JobSignOff, PartsRequest

pytestmark = pytest.mark.django_db

MANY = 8


def count_queries(client, url: str, **headers) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, **headers)
    assert response.status_code == 200, (url, response.status_code)
    return len(ctx.captured_queries)


def page_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- data -------------------------------------------------------------------------------------
def visit(
    site, *, vehicle=None, status=ROStatus.DELIVERED, lines=2, parts=2, tech=None, comeback_of=None
):
    """A repair order with job lines, parts and (when worked) clock entries."""
    vehicle = vehicle or VehicleFactory(owner=CustomerFactory(site=site), site=site)
    now = timezone.now()
    delivered = status == ROStatus.DELIVERED
    ro = RepairOrderFactory(
        site=site,
        vehicle=vehicle,
        customer=vehicle.owner,
        status=status,
        promised_at=now + dt.timedelta(hours=2),
        delivered_at=now - dt.timedelta(hours=1) if delivered else None,
        delivered_day=timezone.localdate() if delivered else None,
        invoiced_at=now - dt.timedelta(hours=2) if delivered else None,
        comeback_of=comeback_of,
    )
    tech = tech or make_staff(role=Role.TECHNICIAN, site=site)
    for pos in range(lines):
        job = JobLineFactory(
            repair_order=ro,
            position=pos,
            technician=tech,
            work_status=JobLine.WorkStatus.DONE if delivered else JobLine.WorkStatus.PENDING,
        )
        for _ in range(parts):
            PartLineFactory(job=job)
        if delivered:
            ClockEntry.objects.create(
                job=job,
                technician=tech,
                started_at=now - dt.timedelta(hours=3),
                ended_at=now - dt.timedelta(hours=2),
            )
    return ro


def appointment(site, advisor, *, day, slot: int):
    vehicle = VehicleFactory(owner=CustomerFactory(site=site), site=site)
    start = dt.datetime.combine(day, dt.time(9), site.tzinfo) + dt.timedelta(minutes=15 * slot)
    return Appointment.objects.create(
        site=site,
        customer=vehicle.owner,
        vehicle=vehicle,
        advisor=advisor,
        start=start,
        end=start + dt.timedelta(minutes=15),
        day=day,
        estimated_hours=Decimal("1.0"),
    )


def call_task(site, ro, n: int):
    now = timezone.now()
    return call_task_create(
        site=site,
        kind=TaskKind.FOLLOWUP,
        source_key=f"perf:{n}",
        customer=ro.customer,
        vehicle=ro.vehicle,
        repair_order=ro,
        due_at=now - dt.timedelta(hours=1),
        due_until=now + dt.timedelta(days=2),
        status="open",
    )


def complaint(site, ro):
    return Complaint.objects.create(
        site=site,
        channel="inbound_call",
        customer=ro.customer,
        vehicle=ro.vehicle,
        repair_order=ro,
        advisor=ro.advisor,
        description="刹车仍有异响",
        respond_by=timezone.now() + dt.timedelta(hours=24),
    )


def next_open_day(site) -> dt.date:
    day = timezone.localdate() + dt.timedelta(days=1)
    while day.weekday() == 6:
        day += dt.timedelta(days=1)
    return day


# --- pages ------------------------------------------------------------------------------------
def test_lookup_runs_the_same_queries_for_one_hit_or_many(
    site, make_user, django_assert_max_num_queries
):
    client = page_client(make_user(Role.ADVISOR))
    first = CustomerFactory(site=site, name="李建国")
    visit(site, vehicle=VehicleFactory(owner=first, site=site))
    url = "/customers/lookup/?q=李建"
    one = count_queries(client, url, HTTP_HX_REQUEST="true")

    for i in range(MANY):
        customer = CustomerFactory(site=site, name=f"李建{'华明军伟强东平勇'[i]}")
        for _ in range(2):
            visit(site, vehicle=VehicleFactory(owner=customer, site=site), lines=1)

    with django_assert_max_num_queries(one):
        response = client.get(url, HTTP_HX_REQUEST="true")
    assert "李建华" in response.content.decode()


def test_availability_runs_the_same_queries_for_an_empty_or_busy_fortnight(
    site, make_user, api_as, django_assert_max_num_queries
):
    advisor = make_user(Role.ADVISOR)
    client = api_as(user=advisor)
    day = next_open_day(site)
    appointment(site, advisor, day=day, slot=0)
    url = f"/api/v1/appointments/availability/?date={day.isoformat()}&hours=1.5"
    one = count_queries(client, url)

    others = [make_staff(role=Role.ADVISOR, site=site) for _ in range(3)]
    for d in range(5):
        for slot in range(MANY):
            appointment(site, others[slot % 3], day=day + dt.timedelta(days=d), slot=slot + 1)

    with django_assert_max_num_queries(one):
        response = client.get(url)
    assert "slots" in response.json()


def test_workshop_board_runs_the_same_queries_for_one_car_or_a_full_shop(
    site, make_user, django_assert_max_num_queries
):
    client = page_client(make_user(Role.DISPATCHER))
    visit(site, status=ROStatus.IN_PROGRESS)
    one = count_queries(client, "/workshop/board/")
    api_one = count_queries(client, "/api/v1/workshop/board/")

    states = [ROStatus.AUTHORIZED, ROStatus.IN_PROGRESS, ROStatus.WAITING_PARTS, ROStatus.QC]
    for i in range(MANY * 2):
        visit(site, status=states[i % len(states)], lines=3, parts=1)

    with django_assert_max_num_queries(one):
        response = client.get("/workshop/board/")
    assert response.status_code == 200
    with django_assert_max_num_queries(api_one):
        assert client.get("/api/v1/workshop/board/").status_code == 200


def test_repair_order_detail_runs_the_same_queries_for_one_line_or_many(
    site, make_user, django_assert_max_num_queries
):
    client = page_client(make_user(Role.ADVISOR))
    small = visit(site, lines=1, parts=1)
    one = count_queries(client, f"/ro/{small.pk}/")

    big = visit(site, lines=MANY, parts=3)

    with django_assert_max_num_queries(one):
        response = client.get(f"/ro/{big.pk}/")
    assert big.number in response.content.decode()


def test_technician_tablet_runs_the_same_queries_for_one_job_or_a_full_day(
    site, make_user, django_assert_max_num_queries
):
    """The technician's own page (the load test's technicians open it before each clocking):
    their jobs with the running clock, open parts requests and what they signed off today."""
    tech = make_user(Role.TECHNICIAN)
    client = page_client(tech)
    visit(site, status=ROStatus.IN_PROGRESS, lines=1, parts=0, tech=tech)
    one = count_queries(client, "/workshop/technician/")

    now = timezone.now()
    states = [ROStatus.AUTHORIZED, ROStatus.IN_PROGRESS, ROStatus.WAITING_PARTS, ROStatus.REWORK]
    ros = []
    for i in range(MANY):
        ro = visit(site, status=states[i % len(states)], lines=2, parts=1, tech=tech)
        ros.append(ro)
        running, waiting = ro.lines.order_by("position")
        if i == 0:  # a technician has one running clock
            running.work_status = JobLine.WorkStatus.IN_PROGRESS
            running.save(update_fields=["work_status"])
            ClockEntry.objects.create(job=running, technician=tech, started_at=now)
        PartsRequest.objects.create(
            job=waiting,
            part=f"filter {i}",
            expected_date=timezone.localdate() + dt.timedelta(days=1),
            requested_by=tech,
            requested_at=now,
        )

    with django_assert_max_num_queries(one):
        response = client.get("/workshop/technician/")
    assert response.status_code == 200
    html = response.content.decode()
    assert all(ro.number in html for ro in ros)
    assert all(f"filter {i}" in html for i in range(MANY))


def test_qc_queue_runs_the_same_queries_for_one_car_or_many(
    site, make_user, django_assert_max_num_queries
):
    """The QC inspector's queue: repair orders done, each with its lines and who signed them."""
    client = page_client(make_user(Role.QC_INSPECTOR))
    tech = make_staff(role=Role.TECHNICIAN, site=site)
    visit(site, status=ROStatus.WORK_DONE, lines=1, parts=0, tech=tech)
    one = count_queries(client, "/workshop/qc/")

    now = timezone.now()
    ros = []
    for i in range(MANY):
        ro = visit(site, status=(ROStatus.WORK_DONE, ROStatus.QC)[i % 2], lines=3, parts=1)
        ros.append(ro)
        for line in ro.lines.all():
            JobSignOff.objects.create(job=line, technician=line.technician, signed_at=now)

    with django_assert_max_num_queries(one):
        response = client.get("/workshop/qc/")
    assert response.status_code == 200
    html = response.content.decode()
    assert all(f"/workshop/qc/{ro.pk}/" in html for ro in ros)


def test_front_desk_day_runs_the_same_queries_for_one_appointment_or_a_full_day(
    site, make_user, django_assert_max_num_queries
):
    """The advisors' day board (the load test's front desk polls it as htmx)."""
    advisor = make_user(Role.ADVISOR)
    client = page_client(advisor)
    day = next_open_day(site)
    url = f"/appointments/day/?date={day.isoformat()}"
    appointment(site, advisor, day=day, slot=0)
    one = count_queries(client, url, HTTP_HX_REQUEST="true")

    other = make_staff(role=Role.ADVISOR, site=site)
    booked = [
        appointment(site, (advisor, other)[slot % 2], day=day, slot=slot)
        for slot in range(1, MANY * 2)
    ]

    with django_assert_max_num_queries(one):
        response = client.get(url, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert all(a.vehicle.plate in html for a in booked)


def test_kpi_month_runs_the_same_queries_for_one_visit_or_many(
    site, make_user, api_as, django_assert_max_num_queries
):
    manager = make_user(Role.MANAGER)
    client = page_client(manager)
    api = api_as(user=manager)
    visit(site)
    today = timezone.localdate()
    query = f"site={site.pk}&start={today.replace(day=1)}&end={today}"
    one = count_queries(client, f"/dashboard/?{query}&preset=custom")
    api_one = count_queries(api, f"/api/v1/kpis/?{query}")

    tech = make_staff(role=Role.TECHNICIAN, site=site)
    for i in range(MANY * 2):
        ro = visit(site, tech=tech if i % 2 else None)
        call_task(site, ro, i)

    with django_assert_max_num_queries(one):
        assert client.get(f"/dashboard/?{query}&preset=custom").status_code == 200
    with django_assert_max_num_queries(api_one):
        assert api.get(f"/api/v1/kpis/?{query}").status_code == 200


# --- API lists ---------------------------------------------------------------------------------
LISTS = [
    "/api/v1/customers/",
    "/api/v1/vehicles/",
    "/api/v1/repair-orders/",
    "/api/v1/appointments/?date={day}",
    "/api/v1/call-tasks/",
    "/api/v1/complaints/",
]


@pytest.mark.parametrize("path", LISTS)
def test_api_list_runs_the_same_queries_for_one_row_or_a_page(
    path, site, make_user, api_as, django_assert_max_num_queries
):
    manager = make_user(Role.MANAGER)
    client = api_as(user=manager)
    advisor = make_staff(role=Role.ADVISOR, site=site)
    day = next_open_day(site)

    earlier = []

    def add(i: int) -> None:
        # every RO after the first is a comeback: the list shows the earlier RO's number
        ro = visit(site, lines=2, parts=1, comeback_of=earlier[-1] if earlier else None)
        earlier.append(ro)
        appointment(site, advisor, day=day, slot=i)
        call_task(site, ro, i)
        complaint(site, ro)

    path = path.format(day=day.isoformat())
    add(0)
    one = count_queries(client, path)
    for i in range(1, MANY + 1):
        add(i)

    with django_assert_max_num_queries(one):
        response = client.get(path)
    body = response.json()
    rows = body["results"] if isinstance(body, dict) and "results" in body else body
    assert len(rows) > 1


# --- the customer's pages -----------------------------------------------------------------------
def _status_token(ro) -> str:
    from portal import services as portal

    _link, token = portal.link_create(
        site=ro.site,
        purpose="status",
        expires_at=timezone.now() + dt.timedelta(days=1),
        repair_order=ro,
    )
    return token


def test_customer_status_page_runs_the_same_queries_for_one_line_or_many(
    site, django_assert_max_num_queries, django_assert_num_queries
):
    client = Client()
    small = _status_token(visit(site, status=ROStatus.READY, lines=1, parts=1))
    one = count_queries(client, f"/p/s/{small}/")
    live_one = count_queries(client, f"/p/s/{small}/live/")

    big = _status_token(visit(site, status=ROStatus.READY, lines=MANY, parts=3))
    with django_assert_max_num_queries(one):
        response = client.get(f"/p/s/{big}/")
    assert response.status_code == 200
    with django_assert_max_num_queries(live_one):
        live = client.get(f"/p/s/{big}/live/")
    # polling while nothing changed: the link with its RO's version, one query
    with django_assert_num_queries(1):
        assert client.get(f"/p/s/{big}/live/", HTTP_IF_NONE_MATCH=live["ETag"]).status_code == 304


def test_online_booking_times_run_the_same_queries_for_an_empty_or_busy_day(
    site, make_user, django_assert_max_num_queries
):
    from appointments.models import ServiceOffering

    ServiceOffering.objects.create(site=site, code="oil", name="Oil", standard_hours=1)
    advisor = make_user(Role.ADVISOR)
    day = next_open_day(site)
    client = Client()
    url = f"/p/book/{site.code}/times/?services=oil&day={day.isoformat()}"
    appointment(site, advisor, day=day, slot=0)
    one = count_queries(client, url)
    others = [make_staff(role=Role.ADVISOR, site=site) for _ in range(3)]
    for d in range(3):
        for slot in range(MANY):
            appointment(site, others[slot % 3], day=day + dt.timedelta(days=d), slot=slot + 1)
    with django_assert_max_num_queries(one):
        assert client.get(url).status_code == 200


def test_customer_survey_page_runs_a_fixed_number_of_queries(site, django_assert_max_num_queries):
    from portal import services as portal

    ro = visit(site, lines=MANY, parts=2)
    task = call_task(site, ro, 1)
    _link, token = portal.link_create(
        site=site,
        purpose="survey",
        expires_at=timezone.now() + dt.timedelta(days=1),
        repair_order=ro,
        call_task_id=task.pk,
    )
    with django_assert_max_num_queries(3):
        assert Client().get(f"/p/f/{token}/").status_code == 200


def test_online_booking_page_runs_the_same_queries_for_a_short_or_long_menu(
    site, make_user, django_assert_max_num_queries
):
    from appointments.models import ServiceOffering

    ServiceOffering.objects.create(site=site, code="oil", name="Oil", standard_hours=1)
    advisor = make_user(Role.ADVISOR)
    day = next_open_day(site)
    appointment(site, advisor, day=day, slot=0)
    client = Client()
    url = f"/p/book/{site.code}/"
    one = count_queries(client, url)
    for n in range(MANY):
        ServiceOffering.objects.create(
            site=site, code=f"s{n}", name=f"Service {n}", standard_hours=1
        )
        appointment(site, advisor, day=day, slot=n + 1)
    with django_assert_max_num_queries(one):
        assert client.get(url).status_code == 200


def test_customer_booking_page_runs_the_same_queries_for_an_empty_or_busy_day(
    site, make_user, django_assert_max_num_queries
):
    from portal import services as portal

    advisor = make_user(Role.ADVISOR)
    day = next_open_day(site)
    booked = appointment(site, advisor, day=day, slot=0)
    _link, token = portal.link_create(
        site=site,
        purpose="booking",
        expires_at=timezone.now() + dt.timedelta(days=3),
        appointment=booked,
    )
    client = Client()
    one = count_queries(client, f"/p/b/{token}/")
    others = [make_staff(role=Role.ADVISOR, site=site) for _ in range(3)]
    for slot in range(MANY):
        appointment(site, others[slot % 3], day=day, slot=slot + 1)
    with django_assert_max_num_queries(one):
        assert client.get(f"/p/b/{token}/").status_code == 200
