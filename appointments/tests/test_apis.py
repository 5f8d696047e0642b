import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connections
from django.utils import timezone
from rest_framework.test import APIClient

from appointments.models import Appointment, AppointmentStatus
from customers.tests.factories import CustomerFactory, VehicleFactory
from dms.models import ClosedDate
from dms.tests.factories import SiteFactory, make_staff
from outreach.models import CallTask

from .conftest import TZ

pytestmark = pytest.mark.django_db
URL = "/api/v1/appointments/"
# the phone booking with both reminders and its cancellation (test below)
BOOK_QUERIES = 30
CANCEL_QUERIES = 19


def next_weekday(n_days: int = 2) -> date:
    """A Tuesday–Saturday at least n days ahead (the test site is closed on Sundays, so the day
    before a Monday has no calling hours for the day-before reminder call)."""
    day = timezone.localdate(timezone.now(), TZ) + timedelta(days=n_days)
    while day.weekday() in (6, 0):
        day += timedelta(days=1)
    return day


@pytest.fixture
def desk(advisor):
    client = APIClient()
    client.force_authenticate(advisor)
    return client


def test_book_and_read_back(desk, vehicle, advisor):
    day = next_weekday()
    response = desk.post(
        URL,
        {"vehicle": vehicle.pk, "start": f"{day}T09:15", "estimated_hours": "1.5"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "booked"
    assert body["start"] == f"{day}T09:15:00+08:00"  # read in the site's time zone
    assert body["advisor"]["name"] == "李娜"
    assert body["customer"]["name"] == "王建国"
    assert "李娜" in body["confirmation_text"]
    assert desk.get(f"{URL}{body['id']}/").json()["id"] == body["id"]
    listed = desk.get(URL, {"date": str(day)}).json()
    assert listed["next"] is None
    assert [a["id"] for a in listed["results"]] == [body["id"]]


def test_4xx_messages(desk, vehicle, site, advisor):
    day = next_weekday()
    yesterday = timezone.localdate(timezone.now(), TZ) - timedelta(days=1)
    # a past date
    r = desk.post(URL, {"vehicle": vehicle.pk, "start": f"{yesterday}T09:00"}, format="json")
    assert r.status_code == 400
    assert r.json()["message"] == "That time is in the past."
    assert "start" in r.json()["fields"]
    # a closed day
    ClosedDate.objects.create(site=site, date=day, reason="盘点")
    r = desk.post(URL, {"vehicle": vehicle.pk, "start": f"{day}T09:00"}, format="json")
    assert r.status_code == 400
    assert "closed" in r.json()["message"]
    assert "盘点" in r.json()["message"]
    # an unknown vehicle (and another site's vehicle looks the same)
    other = VehicleFactory(owner=CustomerFactory(site=SiteFactory()))
    for pk in (999999, other.pk):
        r = desk.post(URL, {"vehicle": pk, "start": f"{day}T09:00"}, format="json")
        assert r.status_code == 400
        assert r.json()["fields"]["vehicle"] == ["No such vehicle at your sites."]
    # a taken slot
    ok_day = next_weekday(3) if next_weekday(3) != day else next_weekday(4)
    payload = {"vehicle": vehicle.pk, "start": f"{ok_day}T10:00", "advisor": advisor.pk}
    assert desk.post(URL, payload, format="json").status_code == 201
    another_car = VehicleFactory(owner=vehicle.owner)
    r = desk.post(URL, {**payload, "vehicle": another_car.pk}, format="json")
    assert r.status_code == 409
    assert "李娜 already has an appointment" in r.json()["message"]
    # malformed input
    r = desk.post(URL, {"vehicle": "x", "start": "soon"}, format="json")
    assert r.status_code == 400
    assert set(r.json()["fields"]) == {"vehicle", "start"}
    # a buffer slot without a reason
    r = desk.post(URL, {"vehicle": vehicle.pk, "start": f"{ok_day}T10:45"}, format="json")
    assert r.status_code == 400
    assert "override_reason" in r.json()["fields"]


def test_availability_endpoint(desk, advisor, site):
    day = next_weekday()
    r = desk.get(f"{URL}availability/", {"date": str(day), "hours": "2"})
    assert r.status_code == 200
    body = r.json()
    assert body["fits"] is True
    assert body["capacity_hours"] == "38.4"
    assert body["slots"][0]["advisor_name"] == "李娜"
    assert body["slots"][0]["start"].endswith("+08:00")
    r = desk.get(f"{URL}availability/", {"date": "2000-01-01", "hours": "2"})
    assert r.status_code == 400
    assert r.json()["message"] == "That date is in the past."
    r = desk.get(f"{URL}availability/", {"date": "9999-12-31", "hours": "2"})
    assert r.status_code == 400
    assert r.json()["message"] == "Bookings open at most a year ahead."
    assert desk.get(f"{URL}load/", {"start": "9999-12-25", "days": 31}).status_code == 400
    r = desk.get(f"{URL}availability/", {"date": str(day)})
    assert r.status_code == 400
    assert "hours" in r.json()["fields"]


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "UTC", "America/New_York"])
def test_availability_slots_are_written_as_drf_writes_them(desk, advisor, zone, site, make_user):
    """The slots are written by RowSerializer's loop; DRF's own fields must agree with it."""
    from rest_framework import serializers

    from appointments.apis import SlotSerializer

    class DrfSlot(serializers.Serializer):
        start = serializers.DateTimeField()
        end = serializers.DateTimeField()
        advisor_id = serializers.IntegerField()
        advisor_name = serializers.CharField()

    assert list(DrfSlot().fields) == list(SlotSerializer().fields)
    from appointments import selectors

    make_user("advisor", first_name="Ann", last_name="Lee")
    day = next_weekday()
    with timezone.override(zone):
        body = desk.get(f"{URL}availability/", {"date": str(day), "hours": "1"}).json()
        result = selectors.availability(site=site, day=day, hours="1")
        expected = DrfSlot(result["slots"], many=True).data
    assert len(body["slots"]) > 40
    assert {s["advisor_name"] for s in body["slots"]} == {"李娜", "Ann Lee"}
    assert body["slots"] == [dict(s) for s in expected]


def test_load_endpoint(desk, advisor):
    r = desk.get(f"{URL}load/", {"days": 3})
    assert r.status_code == 200
    assert len(r.json()) == 3


def test_lifecycle_actions(desk, vehicle, advisor):
    day = next_weekday()
    pk = desk.post(URL, {"vehicle": vehicle.pk, "start": f"{day}T09:00"}, format="json").json()[
        "id"
    ]
    assert desk.post(f"{URL}{pk}/confirm/").json()["status"] == "confirmed"
    r = desk.post(f"{URL}{pk}/reschedule/", {"start": f"{day}T14:30"}, format="json")
    assert r.status_code == 200
    assert r.json()["start"] == f"{day}T14:30:00+08:00"
    assert r.json()["reschedule_count"] == 1
    r = desk.post(f"{URL}{pk}/check-in/")
    assert r.status_code == 409
    assert "check-in is on the day" in r.json()["message"]
    r = desk.post(f"{URL}{pk}/cancel/", {}, format="json")
    assert r.status_code == 400
    assert "reason" in r.json()["fields"]
    assert (
        desk.post(f"{URL}{pk}/cancel/", {"reason": "出差"}, format="json").json()["status"]
        == "cancelled"
    )
    r = desk.post(f"{URL}{pk}/confirm/")
    assert r.status_code == 409
    assert "Allowed next: none" in r.json()["message"]


def test_roles_and_site_scope(api_as, vehicle, advisor, site):
    day = next_weekday()
    tech = api_as("technician")
    r = tech.post(URL, {"vehicle": vehicle.pk, "start": f"{day}T09:00"}, format="json")
    assert r.status_code == 403
    assert "role" in r.json()["message"]
    a = Appointment.objects.create(
        site=site,
        customer=vehicle.owner,
        vehicle=vehicle,
        advisor=advisor,
        start=timezone.now() + timedelta(days=2),
        end=timezone.now() + timedelta(days=2, minutes=15),
        day=day,
    )
    stranger = APIClient()
    other_site = SiteFactory()
    stranger.force_authenticate(make_staff(role="advisor", site=other_site))
    assert stranger.get(f"{URL}{a.pk}/").status_code == 404
    assert stranger.post(f"{URL}{a.pk}/cancel/", {"reason": "x"}).status_code == 404
    assert APIClient().get(URL).status_code in (401, 403)


def test_schema_describes_the_endpoints(desk):
    r = desk.get("/api/v1/schema/", {"format": "json"})
    assert r.status_code == 200
    paths = r.json()["paths"]
    assert "/api/v1/appointments/availability/" in paths
    assert "409" in paths["/api/v1/appointments/"]["post"]["responses"]


# --- concurrency ------------------------------------------------------------------------------
def _fire(n: int, make_payload, user) -> list:
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i: int) -> None:
        client = APIClient()
        client.force_authenticate(user)
        try:
            barrier.wait(timeout=30)
            r = client.post(URL, make_payload(i), format="json")
            results[i] = (r.status_code, r.json())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_requests_for_one_slot_book_it_once(site, advisor, customer):
    # given 32 different cars asking for the same advisor's 09:00 slot at the same moment
    day = next_weekday()
    vehicles = [VehicleFactory(owner=customer) for _ in range(32)]
    results = _fire(
        32,
        lambda i: {"vehicle": vehicles[i].pk, "start": f"{day}T11:00", "advisor": advisor.pk},
        advisor,
    )
    codes = sorted(code for code, _body in results)
    # then exactly one booking succeeds and every other request is told the slot is taken
    assert codes.count(201) == 1
    assert codes.count(409) == 31
    assert all(
        "already has an appointment" in body["message"] for code, body in results if code == 409
    )
    assert Appointment.objects.filter(status=AppointmentStatus.BOOKED).count() == 1
    assert CallTask.objects.count() == 2  # one pair of reminders, for the one booking


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_requests_cannot_overbook_the_workshop(site, advisor, customer, make_user):
    # given a workshop with 4 bookable hours and 30 advisors, each request needing 3 hours
    site.technicians_on_duty, site.technician_hours_per_day, site.bookable_share = 1, 4, 1
    site.save()
    advisors = [advisor] + [make_user("advisor") for _ in range(29)]
    vehicles = [VehicleFactory(owner=customer) for _ in range(30)]
    day = next_weekday()
    results = _fire(
        30,
        lambda i: {
            "vehicle": vehicles[i].pk,
            "start": f"{day}T09:00",  # different advisors: only the hours collide
            "advisor": advisors[i].pk,
            "estimated_hours": "3.0",
        },
        advisor,
    )
    codes = [code for code, _body in results]
    assert codes.count(201) == 1, [b for c, b in results if c not in (201, 409)]
    assert codes.count(409) == 29, [b for c, b in results if c not in (201, 409)]
    assert all("The workshop is full" in body["message"] for c, body in results if c == 409)
    assert Appointment.objects.count() == 1


# --- one car, one active appointment at a time ---------------------------------------------------
def test_a_second_overlapping_appointment_for_the_car_is_a_409_naming_the_first(
    site, advisor, advisor2, vehicle
):
    day = next_weekday()
    api = APIClient()
    api.force_authenticate(advisor)
    first = api.post(
        URL, {"vehicle": vehicle.pk, "start": f"{day}T10:00", "advisor": advisor.pk}, format="json"
    )
    assert first.status_code == 201
    # with another, free advisor at the same time
    second = api.post(
        URL,
        {"vehicle": vehicle.pk, "start": f"{day}T10:00", "advisor": advisor2.pk},
        format="json",
    )
    assert second.status_code == 409
    assert second.json()["appointment"] == first.json()["id"]
    assert f"#{first.json()['id']}" in second.json()["fields"]["start"][0]
    # even with the same-day flag an overlapping one is refused
    third = api.post(
        URL,
        {
            "vehicle": vehicle.pk,
            "start": f"{day}T10:00",
            "advisor": advisor2.pk,
            "allow_same_day": True,
        },
        format="json",
    )
    assert third.status_code == 409
    assert Appointment.objects.filter(vehicle=vehicle).count() == 1


def test_a_second_appointment_the_same_day_needs_the_flag(site, advisor, vehicle):
    day = next_weekday()
    api = APIClient()
    api.force_authenticate(advisor)
    assert (
        api.post(URL, {"vehicle": vehicle.pk, "start": f"{day}T09:00"}, format="json").status_code
        == 201
    )
    later = {"vehicle": vehicle.pk, "start": f"{day}T15:00"}
    refused = api.post(URL, later, format="json")
    assert refused.status_code == 409
    assert refused.json()["fields"]["allow_same_day"]
    allowed = api.post(URL, {**later, "allow_same_day": True}, format="json")
    assert allowed.status_code == 201
    # another day is no second visit
    assert (
        api.post(
            URL,
            {
                "vehicle": vehicle.pk,
                "start": f"{next_weekday((day - timezone.localdate()).days + 2)}T09:00",
            },
            format="json",
        ).status_code
        == 201
    )


def test_a_cancelled_appointment_does_not_count(site, advisor, vehicle):
    from appointments.services import appointment_cancel

    day = next_weekday()
    api = APIClient()
    api.force_authenticate(advisor)
    first = api.post(URL, {"vehicle": vehicle.pk, "start": f"{day}T10:00"}, format="json")
    appointment_cancel(appointment_id=first.json()["id"], actor=advisor, reason="customer called")
    again = api.post(URL, {"vehicle": vehicle.pk, "start": f"{day}T10:00"}, format="json")
    assert again.status_code == 201


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_requests_for_one_car_book_it_once(site, advisor, customer, make_user):
    # given one car and 30 free advisors, 30 requests for it at the same moment
    advisors = [advisor] + [make_user("advisor") for _ in range(29)]
    car = VehicleFactory(owner=customer)
    day = next_weekday()
    results = _fire(
        30,
        lambda i: {"vehicle": car.pk, "start": f"{day}T10:00", "advisor": advisors[i].pk},
        advisor,
    )
    codes = [code for code, _body in results]
    assert codes.count(201) == 1, [b for c, b in results if c not in (201, 409)]
    assert codes.count(409) == 29, [b for c, b in results if c not in (201, 409)]
    booked = Appointment.objects.get(vehicle=car)
    assert all(body["appointment"] == booked.pk for c, body in results if c == 409)


def test_booking_and_cancelling_run_a_bounded_number_of_queries(
    desk, vehicle, advisor, site, django_assert_max_num_queries
):
    """The phone booking and its cancellation are the load test's dearest writes (bench/
    loadtest.py). Here a booking with both reminder calls ran 44 queries and its cancellation 23
    until the day's capacity row was locked by the read that finds it, the day's hours written
    by one UPDATE, a new reminder linked by a plain INSERT, and each audit entry's webhooks read
    by the entry's site first (docs/benchmarks.md, 2026-12-07 23:00)."""
    from appointments.models import AppointmentCallTask, DayCapacity

    day = next_weekday(3)
    other = VehicleFactory(owner=vehicle.owner)
    warm = desk.post(URL, {"vehicle": other.pk, "start": f"{day}T15:00"}, format="json").json()
    desk.post(f"{URL}{warm['id']}/cancel/", {"reason": "warm-up"}, format="json")
    # when a car is booked with both reminders
    with django_assert_max_num_queries(BOOK_QUERIES):
        booked = desk.post(
            URL,
            {"vehicle": vehicle.pk, "start": f"{day}T14:00", "estimated_hours": "1.5"},
            format="json",
        )
    assert booked.status_code == 201, booked.json()
    pk = booked.json()["id"]
    # then the day's hours hold it and both reminders are linked to it
    assert DayCapacity.objects.get(site=site, day=day).booked_hours == Decimal("1.5")
    links = AppointmentCallTask.objects.filter(appointment_id=pk)
    assert links.count() == 2
    # when it is cancelled, then the hours are freed and the reminders cancelled
    with django_assert_max_num_queries(CANCEL_QUERIES):
        cancelled = desk.post(f"{URL}{pk}/cancel/", {"reason": "出差"}, format="json")
    assert cancelled.json()["status"] == "cancelled"
    assert DayCapacity.objects.get(site=site, day=day).booked_hours == Decimal("0.0")
    assert set(
        CallTask.objects.filter(pk__in=links.values("task")).values_list("status", flat=True)
    ) == {"cancelled"}
