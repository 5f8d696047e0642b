"""The index behind "is this advisor's time taken" (each booking and reschedule asks it). An
advisor's history grows by thousands of appointments, most of them kept as "arrived". The
unique constraint's index has the keys but not the "rescheduling" state, so without an index of
its own Postgres read every appointment of the advisor (6.5–11 ms of each booking at the group
dataset, docs/benchmarks.md)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection

from appointments.models import ACTIVE_STATUSES, Appointment, AppointmentStatus

from .conftest import at

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="Postgres's plan"),
]


def _appointment(site, customer, vehicle, advisor, start, status):
    return Appointment(
        site=site,
        customer=customer,
        vehicle=vehicle,
        advisor=advisor,
        start=start,
        end=start + timedelta(hours=1),
        day=start.date(),
        estimated_hours=Decimal("1.0"),
        status=status,
    )


def test_the_slot_taken_question_reads_the_advisors_active_appointments_by_index(
    site, advisor, customer, vehicle
):
    first = at(2, 9)
    # the advisor's history: mostly kept as "arrived" (an active state), some cancelled
    past = [
        _appointment(
            site,
            customer,
            vehicle,
            advisor,
            first - timedelta(hours=n),
            AppointmentStatus.ARRIVED if n % 3 else AppointmentStatus.CANCELLED,
        )
        for n in range(1, 601)
    ]
    Appointment.objects.bulk_create(past)
    Appointment.objects.bulk_create(
        [_appointment(site, customer, vehicle, advisor, at(24, 10), AppointmentStatus.BOOKED)]
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE appointments_appointment")
    # the query of appointments.services (booking) and of the reschedule
    taken = Appointment.objects.filter(
        advisor=advisor, start=at(24, 10), status__in=ACTIVE_STATUSES
    )
    assert taken.exists()
    plan = taken.explain()
    assert "appointment_advisor_active_idx" in plan, plan
    # a rescheduling appointment still holds its time: the index has it
    Appointment.objects.filter(start=at(24, 10)).update(status=AppointmentStatus.RESCHEDULING)
    assert taken.exists()
