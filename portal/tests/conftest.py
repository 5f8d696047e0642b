"""Fixtures of the customer pages: a site with a service menu and two advisors, a known car,
and the next open weekday's times (real clock: the pages book in the future)."""

from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from appointments.models import ServiceOffering
from customers.tests.factories import CustomerFactory, VehicleFactory
from dms.models import Role
from dms.tests.factories import SiteFactory, make_staff


def next_open_day(site, *, after_days: int = 1):
    """The first day from `after_days` on that the site is open (Mon–Sat in the factory)."""
    day = timezone.localtime(timezone.now(), site.tzinfo).date() + timedelta(days=after_days)
    while day.weekday() == 6:
        day += timedelta(days=1)
    return day


def local(site, day, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=site.tzinfo)


def make_shop(**site_fields) -> dict:
    """A site with a two-service menu, two advisors and a known customer's car."""
    site = SiteFactory(
        **{"code": "pudong", "name": "浦东4S店", "phone": "+862150001234", **site_fields}
    )
    ServiceOffering.objects.create(
        site=site,
        code="oil",
        name="Oil change",
        standard_hours=Decimal("1.0"),
        parts=[{"part_number": "OF-1", "name": "Oil filter", "quantity": 1}],
        position=1,
    )
    ServiceOffering.objects.create(
        site=site, code="brakes", name="Brake check", standard_hours=Decimal("0.5"), position=2
    )
    advisors = [
        make_staff(role=Role.ADVISOR, site=site, first_name="娜", last_name="李"),
        make_staff(role=Role.ADVISOR, site=site, first_name="磊", last_name="王"),
    ]
    customer = CustomerFactory(site=site, name="张伟", phone="+8613800138000")
    vehicle = VehicleFactory(owner=customer, plate="沪A12345")
    return {"site": site, "advisors": advisors, "customer": customer, "vehicle": vehicle}


@pytest.fixture
def shop(db):
    return make_shop()
