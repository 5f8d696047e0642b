"""Stored values that are wrong (a reading that went back, an absurd interval) never take a care
page, its CSV or the rule run down: every projection is bounded."""

import csv
import io
from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from customers.models import MileageReading
from customers.service_due import (
    MAX_PROJECTION_DAYS,
    Reading,
    add_months,
    day_reaching,
    km_per_day,
    project,
)
from customers.tests.factories import CustomerFactory, VehicleFactory

pytestmark = pytest.mark.django_db


def test_a_reading_that_went_back_is_left_out_of_the_rate():
    # 0 km at purchase, 170,366 km, then 5 km (a typo kept from before readings were checked)
    readings = [
        Reading(date(2025, 1, 1), 0),
        Reading(date(2026, 1, 1), 170366),
        Reading(date(2026, 6, 1), 5),
    ]
    assert km_per_day(readings) == pytest.approx(170366 / 365)
    assert day_reaching(readings, 5000, today=date(2026, 6, 2)) == date(2025, 1, 12)


@pytest.mark.parametrize(
    "readings",
    [
        [Reading(date(2000, 1, 1), 0), Reading(date(2026, 6, 1), 31)],  # barely moves
        [Reading(date(2026, 1, 1), 2_000_000), Reading(date(2026, 6, 1), 2_000_001)],
        [Reading(date(1, 1, 1), 0), Reading(date(9999, 12, 1), 1)],
        [Reading(date(9999, 12, 31), 2_147_483_647)],
    ],
)
def test_projections_are_bounded_whatever_the_readings(readings):
    today = date(2026, 6, 2)
    for km in (0, 5000, 2_147_483_647):
        day = day_reaching(readings, km, today=today)
        assert date.min <= day <= date.max
        assert abs((day - max(readings).day).days) <= MAX_PROJECTION_DAYS
    assert project(readings, date.max) >= max(r.km for r in readings)


def test_add_months_beyond_the_calendar_is_its_end():
    assert add_months(date(2026, 1, 31), 32767 * 12) == date.max
    assert add_months(date(2, 1, 1), -48) == date.min


@pytest.fixture
def broken_vehicle(site):
    """The reviewed case: a new car sold here, 170,366 km, then a reading of 5 km."""
    today = timezone.localdate()
    vehicle = VehicleFactory(
        owner=CustomerFactory(site=site, name="里程错"),
        sold_by_site=True,
        purchase_date=today - timedelta(days=400),
        mileage_km=170366,
        mileage_read_at=today - timedelta(days=30),
        service_interval_months=32767,
        next_service_due_date=None,
    )
    MileageReading.objects.create(
        vehicle=vehicle, km=5, read_on=today - timedelta(days=1), source="import"
    )
    return vehicle


@pytest.mark.parametrize("role", ["followup_agent", "manager"])
def test_care_pages_and_csv_stay_up_with_a_reading_that_went_back(
    site, client, make_user, broken_vehicle, role
):
    client.force_login(make_user(role))
    month = timezone.localdate().replace(day=1)
    assert client.get(reverse("care:due_this_month")).status_code == 200
    assert client.get(reverse("care:first_service")).status_code == 200
    response = client.get(reverse("care:due_this_month_csv"), {"month": f"{month:%Y-%m}"})
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][0] == "\ufeffPlate"
    assert "EXPORT FAILED" not in str(rows)


def test_the_rule_run_stays_up_with_a_reading_that_went_back(site, api_as, broken_vehicle):
    response = api_as("manager").post("/api/v1/reminder-rules/run/")
    assert response.status_code == 200


@pytest.mark.parametrize("month", ["0001-01", "9999-12", "1999-12"])
def test_a_month_outside_the_calendar_range_is_a_400(site, client, make_user, month):
    client.force_login(make_user("followup_agent"))
    for name in ("care:due_this_month", "care:due_this_month_csv"):
        response = client.get(reverse(name), {"month": month})
        assert response.status_code == 400
        assert "between 2000 and 2100" in response.content.decode()
