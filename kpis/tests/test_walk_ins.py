"""A walk-in counts as a walk-in whichever button started it: the front desk's walk-in button
(which holds a reception slot with an appointment checked in at once) and the RO page's walk-in
(an RO alone) give the same appointment rate, show rate and booked hours."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from appointments import services as booking
from customers.tests.factories import VehicleFactory
from dms.models import Role
from dms.tests.factories import SiteFactory, make_staff
from kpis import selectors
from workorders import services as workorders

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def test_a_front_desk_walk_in_counts_like_a_walk_in_opened_as_an_ro():
    # given a site where the one booked customer of a Wednesday arrived
    site = SiteFactory(time_zone="Asia/Shanghai")
    advisor = make_staff(role=Role.ADVISOR, site=site)
    today = timezone.localtime(timezone.now(), site.tzinfo).date()
    wednesday = today + dt.timedelta(days=(2 - today.weekday()) % 7 + 7)

    def at(hour, minute=0):
        return dt.datetime.combine(wednesday, dt.time(hour, minute), tzinfo=site.tzinfo)

    booked, desk_walk_in, ro_walk_in = (VehicleFactory(owner__site=site) for _ in range(3))
    appointment = booking.appointment_book(
        site=site,
        customer=booked.owner,
        vehicle=booked,
        start=at(9),
        actor=advisor,
        advisor=advisor,
        estimated_hours=Decimal("2.0"),
        now=at(8),
    )
    booking.appointment_check_in(appointment_id=appointment.pk, actor=advisor, now=at(9, 5))

    def kpis():
        # the ROs open on the real day, the appointments are on the Wednesday
        return selectors.kpis_compute(
            site_ids=[site.pk],
            start=today - dt.timedelta(days=1),
            end=wednesday,
            today=today,
        )

    before = kpis()
    assert (before["appointment_rate"], before["show_rate"]) == (1.0, 1.0)

    # when a walk-in comes through the front desk's walk-in button
    _appointment, ro = booking.appointment_walk_in(
        site=site,
        customer=desk_walk_in.owner,
        vehicle=desk_walk_in,
        actor=advisor,
        estimated_hours=Decimal("1.5"),
        now=at(10, 40),
    )
    assert ro is not None
    after_desk = kpis()

    # then it is one more RO that did not come from a booking; no booking showed up or failed to
    assert after_desk["ro_opened"] == 2
    assert after_desk["appointment_rate"] == 0.5  # 1 from a booking ÷ 2 ROs
    assert after_desk["show_rate"] == before["show_rate"] == 1.0
    assert after_desk["booked_hours"] == before["booked_hours"] == 2.0

    # and another walk-in opened on the RO page moves the figures exactly the same way
    workorders.repair_order_open(
        site=site,
        customer=ro_walk_in.owner,
        vehicle=ro_walk_in,
        advisor=advisor,
        actor=advisor,
    )
    after_both = kpis()
    assert after_both["appointment_rate"] == 0.3333  # 1 ÷ 3
    assert after_both["show_rate"] == 1.0
    assert after_both["booked_hours"] == 2.0
