"""Outcomes of appointment reminder calls act on the appointment (appointments' services)."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from appointments.models import AppointmentStatus, appointment_of
from customers.tests.factories import CustomerFactory, VehicleFactory
from dms.exceptions import ApplicationError
from dms.models import Role
from followups import services
from outreach import services as outreach
from outreach.models import CallTask, TaskKind, TaskStatus

pytestmark = pytest.mark.django_db
TZ = ZoneInfo("Asia/Shanghai")
BOOKED_AT = datetime(2026, 11, 23, 8, 0, tzinfo=TZ)  # Monday


@pytest.fixture
def reminder(site, make_user):
    """The day-before reminder of an appointment on Tuesday 10:00, open on an agent's desk."""
    from appointments.services import appointment_book

    advisor = make_user(Role.ADVISOR)
    agent = make_user(Role.FOLLOWUP_AGENT)
    vehicle = VehicleFactory(owner=CustomerFactory(site=site))
    appointment = appointment_book(
        site=site,
        customer=vehicle.owner,
        vehicle=vehicle,
        start=datetime(2026, 11, 24, 10, 0, tzinfo=TZ),
        actor=advisor,
        estimated_hours="1.0",
        now=BOOKED_AT,
    )
    task = CallTask.objects.get(appointment=appointment, kind=TaskKind.REMINDER_DAY_BEFORE)
    outreach.outreach_sweep(now=task.due_at)
    outreach.task_dispatch(task_id=task.pk, now=task.due_at)
    CallTask.objects.filter(pk=task.pk).update(assignee=agent)
    task.refresh_from_db()
    assert task.status == TaskStatus.OPEN
    return task


def test_confirmed_on_the_call_confirms_the_appointment(reminder):
    services.call_task_record_outcome(
        task_id=reminder.pk, actor=reminder.assignee, outcome="confirmed"
    )
    appointment_of(reminder).refresh_from_db()
    assert appointment_of(reminder).status == AppointmentStatus.CONFIRMED
    reminder.refresh_from_db()
    assert reminder.status == TaskStatus.DONE


def test_cancel_on_the_call_cancels_the_appointment_and_its_other_reminder(reminder):
    services.call_task_record_outcome(
        task_id=reminder.pk, actor=reminder.assignee, outcome="cancel", reason="Car sold"
    )
    appointment_of(reminder).refresh_from_db()
    assert appointment_of(reminder).status == AppointmentStatus.CANCELLED
    reminder.refresh_from_db()
    assert reminder.status == TaskStatus.DONE  # this call is done, not cancelled
    soon = CallTask.objects.filter(
        appointment=appointment_of(reminder), kind=TaskKind.REMINDER_SOON
    )
    assert all(t.status == TaskStatus.CANCELLED for t in soon)


def test_reschedule_needs_the_new_time(reminder):
    with pytest.raises(ApplicationError) as err:
        services.call_task_record_outcome(
            task_id=reminder.pk, actor=reminder.assignee, outcome="reschedule"
        )
    assert "new_start" in err.value.fields


def test_reschedule_moves_the_appointment(reminder):
    new_start = datetime(2027, 1, 5, 10, 0, tzinfo=TZ)  # a Tuesday, within the booking horizon
    services.call_task_record_outcome(
        task_id=reminder.pk, actor=reminder.assignee, outcome="reschedule", new_start=new_start
    )
    appointment_of(reminder).refresh_from_db()
    assert appointment_of(reminder).start == new_start


def test_unknown_outcome_is_refused(reminder):
    with pytest.raises(ApplicationError):
        services.call_task_record_outcome(
            task_id=reminder.pk, actor=reminder.assignee, outcome="bogus"
        )
