"""Shared fixtures: a site open Mon–Sat 08:30–17:30 (Asia/Shanghai), two advisors, a customer
with a car, and a controlled clock (Monday 2026-11-23 08:00 local)."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from customers.tests.factories import CustomerFactory, VehicleFactory

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=TZ)  # a Monday morning


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A local time in November 2026 (the 24th is a Tuesday, the 29th a Sunday)."""
    return datetime(2026, 11, day, hour, minute, tzinfo=TZ)


@pytest.fixture
def now():
    return NOW


@pytest.fixture
def advisor(make_user):
    return make_user("advisor", first_name="娜", last_name="李")


@pytest.fixture
def advisor2(make_user):
    return make_user("advisor", first_name="磊", last_name="王")


@pytest.fixture
def manager(make_user):
    return make_user("manager")


@pytest.fixture
def agent(make_user):
    return make_user("followup_agent")


@pytest.fixture
def customer(site):
    return CustomerFactory(site=site, name="王建国", title="mr")


@pytest.fixture
def vehicle(customer):
    return VehicleFactory(owner=customer, plate="沪A12345")


@pytest.fixture
def book(site, advisor, customer, vehicle):
    """book(start, **kw) → Appointment, by the advisor, at NOW. The first booking is for
    `vehicle`, later ones for other cars of the customer (a car has one appointment a day)."""
    from appointments.services import appointment_book

    booked = []

    def _book(start, **kw):
        if "vehicle" not in kw:
            kw["vehicle"] = VehicleFactory(owner=customer) if booked else vehicle
        booked.append(kw["vehicle"])
        kw.setdefault("actor", advisor)
        kw.setdefault("estimated_hours", "1.0")
        kw.setdefault("now", NOW)
        return appointment_book(
            site=kw.pop("site", site),
            customer=kw.pop("customer", customer),
            vehicle=kw.pop("vehicle", vehicle),
            start=start,
            **kw,
        )

    return _book
