"""One-step booking from a care task: the agent turns a yes into an appointment."""

from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from appointments.models import Appointment, appointment_of
from care.services import book_from_task
from customers.tests.factories import CustomerFactory, VehicleFactory
from dms.audit import history
from dms.exceptions import ApplicationError, ConflictError, PermissionDeniedError
from outreach.models import CallTask, TaskKind, TaskStatus
from workorders.tests.factories import RepairOrderFactory

pytestmark = pytest.mark.django_db


def next_monday_at(site, clock: time) -> datetime:
    day = timezone.localdate() + timedelta(days=7)
    day -= timedelta(days=day.weekday())
    return datetime.combine(day + timedelta(days=7), clock, tzinfo=site.tzinfo)


def care_task(site, *, kind=TaskKind.MAINTENANCE_DUE, status=TaskStatus.OPEN, data=None, **kw):
    vehicle = kw.pop("vehicle", None) or VehicleFactory(owner=CustomerFactory(site=site))
    now = timezone.now()
    return CallTask.objects.create(
        site=site,
        kind=kind,
        source_key=f"test:{vehicle.pk}:{kind}",
        customer=vehicle.owner,
        vehicle=vehicle,
        due_at=now - timedelta(hours=1),
        due_until=now + timedelta(days=5),
        status=status,
        data=data or {},
        **kw,
    )


@pytest.fixture
def agent(make_user):
    make_user("advisor")  # someone to receive the customer
    return make_user("followup_agent")


def test_a_yes_on_the_phone_becomes_a_proactive_appointment(site, agent):
    task = care_task(site)
    start = next_monday_at(site, time(8, 30))

    appointment = book_from_task(task_id=task.pk, actor=agent, start=start)

    assert appointment.source == Appointment.Source.PROACTIVE
    assert appointment.vehicle == task.vehicle
    assert appointment.start == start
    task.refresh_from_db()
    assert appointment_of(task) == appointment
    assert task.status == TaskStatus.DONE
    assert task.outcome == "booked"
    assert [e.action for e in history(task)][-1] == "booked"


def test_declined_work_books_its_lines(site, agent):
    ro = RepairOrderFactory(vehicle=VehicleFactory(owner=CustomerFactory(site=site)))
    task = care_task(
        site,
        kind=TaskKind.DECLINED_WORK,
        vehicle=ro.vehicle,
        repair_order=ro,
        data={
            "declined_lines": [
                {
                    "id": 1,
                    "description": "更换刹车片",
                    "reason": "",
                    "amount": "445.00",
                    "hours": "2.00",
                },
                {
                    "id": 2,
                    "description": "更换雨刮",
                    "reason": "太贵",
                    "amount": "80.00",
                    "hours": "0.50",
                },
            ]
        },
    )
    appointment = book_from_task(
        task_id=task.pk, actor=agent, start=next_monday_at(site, time(8, 30))
    )
    assert appointment.estimated_hours == Decimal("2.5")
    assert "更换刹车片" in appointment.notes
    assert "太贵" in appointment.notes


def test_a_task_not_yet_due_is_closed_as_booked(site, agent):
    task = care_task(site, status=TaskStatus.SCHEDULED)
    book_from_task(task_id=task.pk, actor=agent, start=next_monday_at(site, time(8, 30)))
    task.refresh_from_db()
    assert task.status == TaskStatus.CANCELLED  # the sweeper will not call about it
    assert task.outcome == "booked"


def test_booking_twice_is_refused(site, agent):
    task = care_task(site)
    book_from_task(task_id=task.pk, actor=agent, start=next_monday_at(site, time(8, 30)))
    with pytest.raises(ConflictError):
        book_from_task(task_id=task.pk, actor=agent, start=next_monday_at(site, time(8, 45)))
    assert Appointment.objects.count() == 1


def test_a_bad_slot_saves_nothing(site, agent):
    task = care_task(site)
    with pytest.raises(ApplicationError) as exc:
        book_from_task(task_id=task.pk, actor=agent, start=timezone.now() - timedelta(hours=1))
    assert "start" in exc.value.fields
    task.refresh_from_db()
    assert task.status == TaskStatus.OPEN
    assert appointment_of(task) is None
    assert not Appointment.objects.exists()


def test_a_technician_may_not_book(site, make_user):
    task = care_task(site)
    with pytest.raises(PermissionDeniedError):
        book_from_task(
            task_id=task.pk,
            actor=make_user("technician"),
            start=next_monday_at(site, time(8, 30)),
        )


def test_a_follow_up_call_is_not_a_care_task(site, agent):
    task = care_task(site, kind=TaskKind.FOLLOWUP)
    with pytest.raises(ApplicationError) as exc:
        book_from_task(task_id=task.pk, actor=agent, start=next_monday_at(site, time(8, 30)))
    assert exc.value.status_code == 404
