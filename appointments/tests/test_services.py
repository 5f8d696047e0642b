from datetime import date, time, timedelta
from decimal import Decimal

import pytest

from appointments import services
from appointments.models import Appointment, AppointmentStatus, DayCapacity, ServiceOffering
from appointments.transitions import TRANSITIONS
from customers.tests.factories import CustomerFactory, VehicleFactory
from dms.audit import history
from dms.exceptions import ApplicationError, ConflictError, NotFoundError, PermissionDeniedError
from dms.models import ClosedDate
from dms.tests.factories import SiteFactory
from outreach.models import CallTask, TaskKind, TaskStatus

from .conftest import NOW, TZ, at

pytestmark = pytest.mark.django_db
TUESDAY = date(2026, 11, 24)


# --- the slot rules ---------------------------------------------------------------------------
def test_booking_holds_slot_hours_and_writes_history(site, advisor, book):
    appointment = book(at(24, 9), estimated_hours="2.0", notes="异响")
    assert appointment.status == AppointmentStatus.BOOKED
    assert appointment.advisor == advisor
    assert appointment.day == TUESDAY
    assert appointment.end == at(24, 9, 15)
    assert DayCapacity.objects.get(site=site, day=TUESDAY).booked_hours == Decimal("2.0")
    assert [e.action for e in history(appointment)] == ["booked"]


@pytest.mark.parametrize(
    ("start", "message"),
    [
        (at(22, 9), "past"),  # Sunday before NOW
        (at(23, 7, 0), "past"),  # today before NOW
        (at(29, 9), "closed"),  # Sunday: no opening hours
        (at(24, 8, 0), "not a reception slot"),  # before opening
        (at(24, 17, 30), "not a reception slot"),  # closing time
        (at(24, 9, 10), "not a reception slot"),  # off the grid
    ],
)
def test_slot_rules(book, start, message):
    with pytest.raises(ApplicationError) as err:
        book(start)
    assert message in err.value.message
    assert err.value.status_code == 400
    assert "start" in err.value.fields
    assert Appointment.objects.count() == 0


def test_closed_date_cannot_be_booked(site, book):
    ClosedDate.objects.create(site=site, date=TUESDAY, reason="店庆")
    with pytest.raises(ApplicationError, match=r"closed.*店庆"):
        book(at(24, 9))


def test_buffer_slot_needs_a_reason(book):
    with pytest.raises(ApplicationError) as err:
        book(at(24, 9, 45))
    assert "buffer" in err.value.message
    assert "override_reason" in err.value.fields


def test_buffer_slot_with_reason_by_advisor_is_recorded(book):
    appointment = book(at(24, 9, 45), override_reason="VIP 急修")
    assert appointment.is_buffer_slot
    assert appointment.override_reason == "VIP 急修"
    entry = history(appointment).get()
    assert entry.data["buffer_override"] is True
    assert entry.note == "VIP 急修"


def test_call_centre_agent_cannot_override_a_buffer(book, agent, advisor):
    # an agent may book normal slots …
    assert book(at(24, 9), actor=agent, advisor=advisor).created_by == agent
    # … but not a buffer
    with pytest.raises(PermissionDeniedError):
        book(at(24, 9, 45), actor=agent, override_reason="please")


def test_technician_cannot_book(book, make_user):
    with pytest.raises(PermissionDeniedError):
        book(at(24, 9), actor=make_user("technician"))


def test_taken_slot_is_a_conflict(book, advisor, advisor2):
    book(at(24, 9), advisor=advisor)
    with pytest.raises(ConflictError, match="李娜 already has an appointment at 2026-11-24 09:00"):
        book(at(24, 9), advisor=advisor)
    # without a chosen advisor, the free one gets it
    assert book(at(24, 9)).advisor == advisor2
    with pytest.raises(ConflictError, match="No advisor is free"):
        book(at(24, 9))


def test_least_loaded_advisor_is_chosen(book, advisor, advisor2):
    book(at(24, 9), advisor=advisor)
    book(at(24, 9, 15), advisor=advisor)
    assert book(at(24, 10)).advisor == advisor2


def test_capacity_cannot_be_passed_without_manager_override(site, book, manager):
    site.technicians_on_duty, site.technician_hours_per_day, site.bookable_share = 1, 4, 1
    site.save()
    book(at(24, 9), estimated_hours="3.0")
    with pytest.raises(ConflictError) as err:
        book(at(24, 9, 15), estimated_hours="1.5")
    assert "1.0 h left of 4.0 h" in err.value.message
    assert err.value.status_code == 409
    # an advisor's reason is not enough
    with pytest.raises(ConflictError):
        book(at(24, 9, 15), estimated_hours="1.5", override_reason="老客户")
    # a manager's override is recorded
    appointment = book(
        at(24, 9, 15), estimated_hours="1.5", actor=manager, override_reason="老客户"
    )
    assert history(appointment).get().data["capacity_override"] is True
    assert DayCapacity.objects.get(site=site, day=TUESDAY).booked_hours == Decimal("4.5")


def test_exactly_full_is_allowed(site, book):
    site.technicians_on_duty, site.technician_hours_per_day, site.bookable_share = 1, 4, 1
    site.save()
    book(at(24, 9), estimated_hours="4.0")
    assert services.selectors.day_load(site=site, day=TUESDAY)["full"] is True


def test_hours_from_services_and_parts_to_reserve(site, book):
    ServiceOffering.objects.create(
        site=site,
        code="oil",
        name="常规保养",
        standard_hours=Decimal("1.0"),
        parts=[{"part_number": "06L115562", "name": "机油滤清器", "quantity": 1}],
    )
    ServiceOffering.objects.create(site=site, code="brakes", name="刹车片", standard_hours="1.5")
    appointment = book(at(24, 9), estimated_hours=None, services=["oil", "brakes"])
    assert appointment.estimated_hours == Decimal("2.5")
    assert [s["name"] for s in appointment.services] == ["常规保养", "刹车片"]
    assert appointment.part_reservations.get().name == "机油滤清器"
    # a service not on the menu is kept as a free-text item (no parts; hours as entered)
    other = book(at(24, 10), estimated_hours="2.0", services=["返修：异响复查"])
    assert other.services == [{"code": "", "name": "返修：异响复查", "hours": ""}]
    assert other.part_reservations.count() == 0


@pytest.mark.parametrize("hours", ["-1", "abc", "99"])
def test_bad_hours(book, hours):
    with pytest.raises(ApplicationError) as err:
        book(at(24, 9), estimated_hours=hours)
    assert "estimated_hours" in err.value.fields


def test_vehicle_of_another_site_is_unknown(book):
    other = VehicleFactory(owner=CustomerFactory(site=SiteFactory()))
    with pytest.raises(ApplicationError, match="Unknown vehicle"):
        book(at(24, 9), vehicle=other)


# --- reminders --------------------------------------------------------------------------------
def _reminders(appointment, status=TaskStatus.SCHEDULED):
    return {
        t.kind: t
        for t in CallTask.objects.filter(appointment=appointment, status=status).order_by("id")
    }


def test_booking_schedules_both_reminders_at_site_times(book):
    appointment = book(at(25, 10))  # Wednesday 10:00
    tasks = _reminders(appointment)
    day_before = tasks[TaskKind.REMINDER_DAY_BEFORE]
    soon = tasks[TaskKind.REMINDER_SOON]
    # day before at 16:00 until the end of calling hours (20:00)
    assert day_before.due_at == at(24, 16)
    assert day_before.due_until == at(24, 20)
    # 120 minutes before, until 15 minutes before the slot
    assert soon.due_at == at(25, 9)  # 08:00 is before calling hours (09:00)
    assert soon.due_until == at(25, 9, 45)
    assert "李娜" in soon.message
    assert (
        day_before.source_key
        == f"appointment:{appointment.pk}:{at(25, 10).astimezone(TZ).astimezone(__import__('datetime').UTC).isoformat()}"
    )


def test_reminders_respect_quiet_hours(book, customer):
    # the customer asks not to be called 15:00–18:00 and before 10:30
    customer.quiet_hours_start, customer.quiet_hours_end = time(15, 0), time(18, 0)
    customer.save()
    tasks = _reminders(book(at(25, 14)))
    assert tasks[TaskKind.REMINDER_DAY_BEFORE].due_at == at(24, 18)
    assert tasks[TaskKind.REMINDER_SOON].due_at == at(25, 12)
    assert tasks[TaskKind.REMINDER_SOON].due_until == at(25, 13, 45)


def test_overnight_quiet_hours_skip_an_early_short_reminder(book, customer):
    customer.quiet_hours_start, customer.quiet_hours_end = time(21, 0), time(10, 0)
    customer.save()
    tasks = _reminders(book(at(25, 9)))
    assert set(tasks) == {TaskKind.REMINDER_DAY_BEFORE}  # nothing allowed 07:00–08:45


def test_no_call_consent_falls_back_to_sms_and_none_without_any(book, customer):
    customer.consent_call = False
    customer.save()
    first = book(at(25, 10))
    assert {t.channel for t in _reminders(first).values()} == {"sms"}
    customer.consent_sms = False
    customer.save()
    assert _reminders(book(at(25, 11))) == {}


def test_booking_late_skips_passed_reminders(book):
    # booked at 08:00 for 10:00 today: no day-before call, the short one from now
    tasks = _reminders(book(at(23, 10)))
    assert set(tasks) == {TaskKind.REMINDER_SOON}
    assert tasks[TaskKind.REMINDER_SOON].due_at == at(23, 9)


def test_reschedule_moves_reminders_and_keeps_history(site, book, advisor):
    appointment = book(at(25, 10))
    old_tasks = _reminders(appointment)
    moved = services.appointment_reschedule(
        appointment_id=appointment.pk, start=at(26, 14), actor=advisor, now=NOW
    )
    assert moved.start == at(26, 14)
    assert moved.reschedule_count == 1
    assert {t.pk for t in _reminders(appointment, TaskStatus.CANCELLED).values()} == {
        t.pk for t in old_tasks.values()
    }
    new = _reminders(appointment)
    assert new[TaskKind.REMINDER_DAY_BEFORE].due_at == at(25, 16)
    entry = history(appointment).filter(action="rescheduled").get()
    assert entry.data["from"]["start"] == at(25, 10).isoformat()
    assert DayCapacity.objects.get(site=site, day=date(2026, 11, 25)).booked_hours == 0
    assert DayCapacity.objects.get(site=site, day=date(2026, 11, 26)).booked_hours == 1
    # a repeated identical request is a no-op
    again = services.appointment_reschedule(
        appointment_id=appointment.pk, start=at(26, 14), actor=advisor, now=NOW
    )
    assert again.reschedule_count == 1


def test_reschedule_onto_a_taken_slot_is_a_conflict(book, advisor):
    book(at(26, 14), advisor=advisor)
    appointment = book(at(25, 10), advisor=advisor)
    with pytest.raises(ConflictError, match="already has an appointment"):
        services.appointment_reschedule(
            appointment_id=appointment.pk, start=at(26, 14), actor=advisor, advisor=advisor, now=NOW
        )
    appointment.refresh_from_db()
    assert appointment.start == at(25, 10)
    assert len(_reminders(appointment)) == 2  # untouched


def test_cancel_frees_the_slot_and_cancels_reminders(site, book, advisor):
    appointment = book(at(25, 10))
    with pytest.raises(ApplicationError, match="why"):
        services.appointment_cancel(appointment_id=appointment.pk, actor=advisor, reason=" ")
    services.appointment_cancel(appointment_id=appointment.pk, actor=advisor, reason="车已卖")
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CANCELLED
    assert _reminders(appointment) == {}
    assert len(_reminders(appointment, TaskStatus.CANCELLED)) == 2
    assert DayCapacity.objects.get(site=site, day=date(2026, 11, 25)).booked_hours == 0
    # the slot can be booked again
    assert book(at(25, 10), advisor=advisor).status == AppointmentStatus.BOOKED


# --- lifecycle --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("start_state", "to"),
    [(s, t) for s in AppointmentStatus.values for t in AppointmentStatus.values if s != t],
)
def test_every_move_of_the_table(book, advisor, start_state, to):
    appointment = book(at(23, 10))
    Appointment.objects.filter(pk=appointment.pk).update(status=start_state)
    call = {
        AppointmentStatus.CONFIRMED: lambda: services.appointment_confirm(
            appointment_id=appointment.pk, actor=advisor
        ),
        AppointmentStatus.CANCELLED: lambda: services.appointment_cancel(
            appointment_id=appointment.pk, actor=advisor, reason="x"
        ),
        AppointmentStatus.ARRIVED: lambda: services.appointment_check_in(
            appointment_id=appointment.pk, actor=advisor, now=at(23, 9, 55)
        ),
        AppointmentStatus.NO_SHOW: lambda: services.appointments_mark_no_show(now=at(23, 11)),
        # the customer's "2" to the reminder (a reply is never an error: too late, it is ignored)
        AppointmentStatus.RESCHEDULING: lambda: services.appointment_reply(
            appointment_id=appointment.pk, task_id=0, choice="2", text="2"
        ),
        AppointmentStatus.BOOKED: None,
    }[to]
    if call is None:
        return  # only a reschedule moves back to booked
    legal = to in TRANSITIONS[start_state]
    if to == AppointmentStatus.RESCHEDULING:
        assert call() == ("reminder_outcome" if legal else None)
    elif to == AppointmentStatus.NO_SHOW:
        assert call() == (1 if legal else 0)
    elif legal:
        call()
    else:
        with pytest.raises(ConflictError):
            call()
    appointment.refresh_from_db()
    assert appointment.status == (to if legal else start_state)


def test_confirm_twice_is_a_no_op(book, advisor):
    appointment = book(at(24, 9))
    services.appointment_confirm(appointment_id=appointment.pk, actor=advisor)
    services.appointment_confirm(appointment_id=appointment.pk, actor=advisor)
    assert [e.action for e in history(appointment)] == ["booked", "confirmed"]


def test_check_in_only_on_the_day(book, advisor):
    appointment = book(at(24, 9))
    with pytest.raises(ConflictError, match="check-in is on the day"):
        services.appointment_check_in(appointment_id=appointment.pk, actor=advisor, now=NOW)
    ro = services.appointment_check_in(
        appointment_id=appointment.pk, actor=advisor, now=at(24, 8, 50)
    )
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.ARRIVED
    # the repair order is opened for the same car, customer and advisor
    assert ro.appointment == appointment
    assert (ro.vehicle, ro.customer, ro.advisor) == (
        appointment.vehicle,
        appointment.customer,
        advisor,
    )
    # checking in twice returns the same repair order
    again = services.appointment_check_in(
        appointment_id=appointment.pk, actor=advisor, now=at(24, 8, 55)
    )
    assert again.pk == ro.pk
    assert _reminders(appointment) == {}  # pending reminders are cancelled


def test_unknown_appointment_is_404(advisor):
    with pytest.raises(NotFoundError):
        services.appointment_confirm(appointment_id=999999, actor=advisor)


def test_no_show_after_grace_period(site, book):
    appointment = book(at(23, 10))
    # 29 minutes after the slot: still waiting
    assert services.appointments_mark_no_show(now=at(23, 10, 29)) == 0
    assert services.appointments_mark_no_show(now=at(23, 10, 31)) == 1
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.NO_SHOW
    assert history(appointment).last().actor is None
    assert DayCapacity.objects.get(site=site, day=date(2026, 11, 23)).booked_hours == 0
    # a second run is a no-op
    assert services.appointments_mark_no_show(now=at(23, 10, 31)) == 0


def test_walk_in_takes_the_next_free_slot_buffer_included(site, advisor, book, customer, vehicle):
    # given the advisor's 09:30 reception is booked; a walk-in comes at 09:40
    book(at(23, 9, 30), vehicle=VehicleFactory(owner=customer))
    appointment, _ro = services.appointment_walk_in(
        site=site,
        customer=customer,
        vehicle=vehicle,
        actor=advisor,
        estimated_hours="1",
        now=at(23, 9, 40),
    )
    assert appointment.start == at(23, 9, 45)
    assert appointment.is_buffer_slot
    assert appointment.channel == "walk_in"
    assert appointment.status == AppointmentStatus.ARRIVED


def test_part_reservation_by_parts_clerk(site, book, make_user, advisor):
    ServiceOffering.objects.create(
        site=site, code="oil", name="保养", parts=[{"part_number": "P1", "name": "机滤"}]
    )
    appointment = book(at(24, 9), services=["oil"])
    row = appointment.part_reservations.get()
    with pytest.raises(PermissionDeniedError):
        services.part_reserve(reservation_id=row.pk, actor=advisor)
    clerk = make_user("parts_clerk")
    services.part_reserve(reservation_id=row.pk, actor=clerk, now=NOW)
    row.refresh_from_db()
    assert row.reserved_by == clerk
    services.part_reserve(reservation_id=row.pk, actor=clerk, reserved=False)
    row.refresh_from_db()
    assert row.reserved_at is None
    assert [e.action for e in history(appointment)][-2:] == ["part_reserved", "part_unreserved"]


def test_times_are_stored_aware(book):
    appointment = book(at(24, 9))
    appointment.refresh_from_db()
    assert appointment.start.utcoffset() == timedelta(0)
    assert appointment.start == at(24, 9)


def test_reschedule_without_a_time_is_a_400(book, advisor):
    appointment = book(at(25, 10))
    with pytest.raises(ApplicationError) as err:
        services.appointment_reschedule(appointment_id=appointment.pk, start=None, actor=advisor)
    assert "start" in err.value.fields


def test_reschedule_of_an_appointment_waiting_for_a_new_time_books_it_again(book, advisor):
    appointment = book(at(25, 10))
    assert (
        services.appointment_reply(appointment_id=appointment.pk, task_id=0, choice="2", text="2")
        == "reminder_outcome"
    )
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.RESCHEDULING
    services.appointment_reschedule(
        appointment_id=appointment.pk, start=at(26, 10), actor=advisor, now=NOW
    )
    appointment.refresh_from_db()
    assert (appointment.status, appointment.start) == (AppointmentStatus.BOOKED, at(26, 10))
    assert len(_reminders(appointment)) == 2


def test_a_customer_booking_a_second_visit_the_same_day_is_told_to_call(site, vehicle, book):
    ServiceOffering.objects.create(site=site, code="oil", name="常规保养", standard_hours="1.0")
    book(at(24, 9))
    with pytest.raises(ConflictError) as refused:
        services.appointment_book_online(
            site=site,
            customer=vehicle.owner,
            vehicle=vehicle,
            start=at(24, 15),
            services=["oil"],
            now=NOW,
        )
    assert "please call the service desk" in refused.value.message
