"""Mileage projection arithmetic, due dates, the due-this-month and first-service lists."""

from datetime import date, datetime, time, timedelta

import pytest

from care.selectors import (
    DueStatus,
    FirstServiceStatus,
    capture_rate,
    due_this_month,
    first_service_capture,
)
from customers import services as archive
from customers.service_due import (
    DEFAULT_KM_PER_DAY,
    Reading,
    add_months,
    day_reaching,
    km_per_day,
    project,
    projected_mileage,
)
from customers.tests.factories import CustomerFactory, VehicleFactory
from outreach.models import CallTask, TaskKind, TaskStatus
from workorders.tests.factories import RepairOrderFactory

READINGS = [Reading(date(2026, 1, 1), 10000), Reading(date(2026, 4, 11), 15000)]  # 100 days


def test_rate_is_distance_over_days_between_oldest_and_newest_reading():
    assert km_per_day(READINGS) == 50.0
    assert km_per_day([*READINGS, Reading(date(2026, 2, 1), 11000)]) == 50.0


def test_projection_adds_the_daily_rate_since_the_newest_reading():
    assert project(READINGS, date(2026, 5, 1)) == 15000 + 20 * 50
    assert project(READINGS, date(2026, 4, 11)) == 15000
    assert project(READINGS, date(2026, 3, 1)) == 15000  # never projected backwards


def test_the_day_a_mileage_is_reached():
    assert day_reaching(READINGS, 20000, today=date(2026, 4, 20)) == date(2026, 7, 20)
    assert day_reaching(READINGS, 20001, today=date(2026, 4, 20)) == date(2026, 7, 21)
    # already past it: the day it was passed, 3 000 km / 50 km a day before the reading
    assert day_reaching(READINGS, 12000, today=date(2026, 4, 20)) == date(2026, 2, 10)


def test_too_little_history_uses_the_default_rate():
    short = [Reading(date(2026, 4, 1), 10000), Reading(date(2026, 4, 11), 10900)]
    assert km_per_day(short) == DEFAULT_KM_PER_DAY
    assert km_per_day([Reading(date(2026, 4, 1), 10000)]) == DEFAULT_KM_PER_DAY
    assert project(short, date(2026, 4, 21)) == 10900 + 10 * int(DEFAULT_KM_PER_DAY)
    # a reading that went down (a typo at the desk) never lowers the projection: it is left
    # out, the projection runs on from the last reading that did not go back
    odd = [Reading(date(2026, 1, 1), 30000), Reading(date(2026, 4, 11), 3000)]
    assert project(odd, date(2026, 4, 11)) == 30000 + 100 * int(DEFAULT_KM_PER_DAY)


def test_add_months_clamps_to_the_month_end():
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 11, 15), 3) == date(2027, 2, 15)


@pytest.mark.django_db
def test_projected_mileage_of_a_vehicle_uses_its_repair_orders(site):
    vehicle = VehicleFactory(
        owner=CustomerFactory(site=site), mileage_km=15000, mileage_read_at=date(2026, 4, 11)
    )
    RepairOrderFactory(vehicle=vehicle, odometer_km=10000, opened_day=date(2026, 1, 1))
    assert projected_mileage(vehicle=vehicle, on=date(2026, 5, 1)) == 16000


@pytest.mark.django_db
def test_due_this_month_shows_booked_contacted_and_not_yet(
    site, make_user, django_assert_max_num_queries
):
    from appointments.models import Appointment

    june = date(2026, 6, 1)
    booked, contacted, waiting, later = (
        VehicleFactory(owner=CustomerFactory(site=site), next_service_due_date=date(2026, 6, day))
        for day in (5, 12, 20, 1)
    )
    later.next_service_due_date = date(2026, 7, 1)
    later.save()
    archive.vehicle_estimates_update(vehicle=later)
    start = datetime(2026, 6, 4, 10, tzinfo=site.tzinfo)
    Appointment.objects.create(
        site=site,
        customer=booked.owner,
        vehicle=booked,
        advisor=make_user("advisor"),
        start=start,
        end=start + timedelta(minutes=15),
        day=start.date(),
    )
    for vehicle, status in ((contacted, TaskStatus.DONE), (waiting, TaskStatus.OPEN)):
        CallTask.objects.create(
            site=site,
            kind=TaskKind.MAINTENANCE_DUE,
            source_key=f"v{vehicle.pk}",
            customer=vehicle.owner,
            vehicle=vehicle,
            due_at=datetime.combine(date(2026, 5, 25), time(9), tzinfo=site.tzinfo),
            due_until=datetime.combine(date(2026, 6, 5), time(18), tzinfo=site.tzinfo),
            status=status,
        )
    with django_assert_max_num_queries(6):
        rows = due_this_month(site=site, month=june)
    assert [(r.vehicle, r.status) for r in rows] == [
        (booked, DueStatus.BOOKED),
        (contacted, DueStatus.CONTACTED),
        (waiting, DueStatus.NOT_YET),
    ]


@pytest.mark.django_db
def test_first_service_capture_list(site):
    today = date(2026, 6, 15)

    def sold(purchased):
        return VehicleFactory(
            owner=CustomerFactory(site=site), sold_by_site=True, purchase_date=purchased
        )

    came, overdue, soon, upcoming = (
        sold(date(2026, 1, 10)),
        sold(date(2026, 2, 10)),
        sold(date(2026, 4, 1)),
        sold(date(2026, 6, 1)),
    )
    VehicleFactory(owner=CustomerFactory(site=site), purchase_date=date(2026, 2, 1))  # not ours
    RepairOrderFactory(vehicle=came, is_first_service=True, opened_day=date(2026, 4, 9))
    rows = first_service_capture(site=site, today=today, sold_since=date(2025, 12, 1))
    assert [(r.vehicle, r.status) for r in rows] == [
        (came, FirstServiceStatus.CAME),
        (overdue, FirstServiceStatus.OVERDUE),
        (soon, FirstServiceStatus.DUE_SOON),
        (upcoming, FirstServiceStatus.UPCOMING),
    ]
    assert rows[0].came_on == date(2026, 4, 9)
    assert rows[1].due_on == date(2026, 5, 10)
    assert capture_rate(rows, today=today) == (1, 2)
