"""Writes for appointments: book, confirm, reschedule, cancel, check in, walk in, no-shows,
and the parts clerk's reservations.

Locking order, everywhere: the DayCapacity row(s) of the affected day(s) in date order, then the
appointment row. Every booking of a site-day holds that day's row, so two bookings of one slot or
of the last free hours serialise: the second sees the first and gets a 409. The partial unique
constraint (advisor, start) on active appointments is the database's last word on double booking.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Channel, Customer, Vehicle
from dms import audit
from dms.exceptions import ApplicationError, ConflictError, NotFoundError
from dms.models import Role, Site, StaffRole
from dms.permissions import has_role, require_role
from dms.statemachine import move
from outreach import contact
from outreach.models import TaskKind
from outreach.services import task_schedule, tasks_cancel

from . import hooks, selectors
from .models import (
    ACTIVE_STATUSES,
    Appointment,
    AppointmentCallTask,
    AppointmentStatus,
    DayCapacity,
    PartReservation,
    ServiceOffering,
)
from .transitions import RESCHEDULABLE, TRANSITIONS

# Who may book, and who may override the reception buffer or the workshop capacity.
BOOKING_ROLES = (Role.ADVISOR, Role.FOLLOWUP_AGENT)
BUFFER_OVERRIDE_ROLES = (Role.ADVISOR,)  # the front desk fills buffers with walk-ins
CAPACITY_OVERRIDE_ROLES = (Role.MANAGER,)
# The short reminder must reach the customer at least this long before the slot.
SOON_REMINDER_LAST_CALL = timedelta(minutes=15)
MAX_HOURS = Decimal("40.0")
BOOKING_HORIZON_DAYS = 366  # bookings and availability reach a year ahead


# --- helpers ---------------------------------------------------------------------------------
def _lock_days(site: Site, days: Iterable[date]) -> None:
    """Lock the capacity rows of `days`, in date order, creating the ones not there yet (a day
    nobody booked before). A row is locked by the read that finds it: one query a day where
    the row exists, as it does for every day with a booking."""
    for day in sorted(set(days)):
        if DayCapacity.objects.select_for_update().filter(site=site, day=day).first() is None:
            DayCapacity.objects.get_or_create(site=site, day=day)
            DayCapacity.objects.select_for_update().get(site=site, day=day)


def _store_booked(site: Site, day: date) -> None:
    """Store the day's active booked hours on its capacity row, which the transaction has locked
    (`_lock_days`): the sum written by one UPDATE, without reading the row again."""
    DayCapacity.objects.filter(site=site, day=day).update(
        booked_hours=selectors.booked_hours(site, day)
    )


def _get(appointment_id, *, lock: bool = False) -> Appointment:
    qs = Appointment.objects.select_related("site", "customer", "vehicle", "advisor")
    if lock:
        qs = qs.select_for_update(of=("self",))
    try:
        return qs.get(pk=appointment_id)
    except (Appointment.DoesNotExist, ValueError, TypeError):
        raise NotFoundError(_("No such appointment.")) from None


def _as_hours(value, field: str = "estimated_hours") -> Decimal:
    try:
        hours = Decimal(str(value)).quantize(Decimal("0.1"))
    except (InvalidOperation, ValueError, TypeError):
        raise ApplicationError(
            _("Enter the estimated labour hours as a number."),
            fields={field: _("Enter a number, e.g. 1.5.")},
        ) from None
    if hours < 0 or hours > MAX_HOURS:
        raise ApplicationError(
            _("Estimated labour hours must be between 0 and %(max)s.") % {"max": MAX_HOURS},
            fields={field: _("Between 0 and %(max)s.") % {"max": MAX_HOURS}},
        )
    return hours


def _fmt(site: Site, dt: datetime) -> str:
    return dt.astimezone(site.tzinfo).strftime("%Y-%m-%d %H:%M")


def _require_start(start) -> datetime:
    if not isinstance(start, datetime):
        raise ApplicationError(
            _("Choose the date and time."), fields={"start": _("Choose a slot.")}
        )
    return start


def _check_slot(
    *,
    site: Site,
    start: datetime,
    now: datetime,
    actor,
    override_reason: str,
    field: str = "start",
) -> selectors.Slot:
    """The slot rules: future, open day, on the grid; buffers only by override."""
    if timezone.is_naive(start):
        start = timezone.make_aware(start, site.tzinfo)
    if start <= now:
        raise ApplicationError(
            _("That time is in the past."), fields={field: _("Choose a time in the future.")}
        )
    day = start.astimezone(site.tzinfo).date()
    if day > selectors.local_today(site, now) + timedelta(days=BOOKING_HORIZON_DAYS):
        raise ApplicationError(
            _("Bookings open at most a year ahead."),
            fields={field: _("Choose a date within the next year.")},
        )
    opening = selectors.opening_of(site, day)
    if opening is None:
        reason = selectors.closed_reason(site, day)
        raise ApplicationError(
            _("The site is closed on %(day)s (%(reason)s).") % {"day": day, "reason": reason},
            fields={field: _("Closed day: choose another date.")},
        )
    slot = slots_by_start(site, day, opening).get(start.astimezone(site.tzinfo))
    if slot is None:
        raise ApplicationError(
            _(
                "%(time)s is not a reception slot: receptions start every %(n)s minutes "
                "between %(opens)s and %(closes)s."
            )
            % {
                "time": start.astimezone(site.tzinfo).strftime("%H:%M"),
                "n": site.slot_minutes,
                "opens": opening[0].strftime("%H:%M"),
                "closes": opening[1].strftime("%H:%M"),
            },
            fields={field: _("Choose a slot from the list.")},
        )
    if slot.is_buffer:
        if not override_reason.strip():
            raise ApplicationError(
                _(
                    "%(time)s is a buffer slot kept for walk-ins; booking it needs an override reason."
                )
                % {"time": slot.start.strftime("%H:%M")},
                fields={"override_reason": _("Say why this buffer slot is used.")},
            )
        require_role(actor, site, *BUFFER_OVERRIDE_ROLES)
    return slot


def slots_by_start(site: Site, day: date, opening=None) -> dict[datetime, selectors.Slot]:
    return {s.start: s for s in selectors.slot_grid(site, day, opening)}


def _check_capacity(
    *,
    site: Site,
    day: date,
    hours: Decimal,
    actor,
    override_reason: str,
    exclude_id=None,
    allow: bool = False,
) -> bool:
    """Raise ConflictError if `hours` more would pass the day's capacity (unless overridden).

    Runs under the day's lock. Returns True when the booking needed the capacity override.
    """
    qs = Appointment.objects.filter(site=site, day=day, status__in=ACTIVE_STATUSES)
    if exclude_id:
        qs = qs.exclude(pk=exclude_id)
    booked = sum((a for a in qs.values_list("estimated_hours", flat=True)), Decimal("0"))
    capacity = site.daily_bookable_hours
    if booked + hours <= capacity:
        return False
    if allow or (override_reason.strip() and has_role(actor, site, *CAPACITY_OVERRIDE_ROLES)):
        return True
    remaining = max(capacity - booked, Decimal("0"))
    raise ConflictError(
        _(
            "The workshop is full on %(day)s: %(remaining)s h left of %(capacity)s h, "
            "this booking needs %(hours)s h. Choose another day or ask a service manager "
            "to override."
        )
        % {"day": day, "remaining": remaining, "capacity": capacity, "hours": hours},
        fields={"start": _("Not enough workshop hours left that day.")},
        extra={"code": "capacity", "remaining_hours": str(remaining)},
    )


def _pick_advisor(*, site: Site, start: datetime, advisor) -> object:
    """The given advisor if free (409 otherwise), else the least-loaded free advisor."""
    if advisor is not None:
        if not StaffRole.objects.filter(
            site=site, user=advisor, role=Role.ADVISOR, on_duty=True
        ).exists():
            raise ApplicationError(
                _("%(name)s is not a service advisor on duty here.")
                % {"name": selectors.person_name(advisor)},
                fields={"advisor": _("Choose an advisor of this site.")},
            )
        if Appointment.objects.filter(
            advisor=advisor, start=start, status__in=ACTIVE_STATUSES
        ).exists():
            raise _slot_taken(site, start, advisor)
        return advisor
    chosen = selectors.least_loaded_advisor(site=site, start=start)
    if chosen is None:
        raise ConflictError(
            _("No advisor is free at %(time)s. Choose another slot.") % {"time": _fmt(site, start)},
            fields={"start": _("This slot is taken.")},
            extra={"code": "slot_taken"},
        )
    return chosen


def _slot_taken(site: Site, start: datetime, advisor) -> ConflictError:
    return ConflictError(
        _("%(name)s already has an appointment at %(time)s. Choose another slot or advisor.")
        % {"name": selectors.person_name(advisor), "time": _fmt(site, start)},
        fields={"start": _("This slot is taken.")},
        extra={"code": "slot_taken"},
    )


def _services(site: Site, services: Sequence) -> tuple[list[ServiceOffering], list[dict]]:
    """The chosen services: menu items by code, and free-text items (any other string, or a
    {"name", "hours"} dict) which carry no parts and need hours to be entered."""
    items = []
    for s in services or ():
        if isinstance(s, dict):
            items.append(s)
        elif str(s).strip():
            items.append({"code": str(s).strip()})
    codes = [i["code"] for i in items if i.get("code")]
    found = {o.code: o for o in ServiceOffering.objects.filter(site=site, code__in=codes)}
    offerings, free = [], []
    for item in items:
        offering = found.get(item.get("code", ""))
        if offering is not None:
            offerings.append(offering)
            continue
        name = str(item.get("name") or item.get("code") or "").strip()[:120]
        if not name:
            raise ApplicationError(
                _("A service needs a name."), fields={"services": _("Name each service.")}
            )
        free.append({"code": "", "name": name, "hours": str(item.get("hours") or "")})
    return offerings, free


# --- reminders -------------------------------------------------------------------------------
def reminder_window(
    *,
    site: Site,
    customer: Customer,
    earliest: datetime,
    latest: datetime,
    channel: str = Channel.CALL,
) -> tuple[datetime, datetime] | None:
    """The first stretch within [earliest, latest] when the reminder may reach the customer
    by `channel` (outreach.contact: calling hours, quiet hours, open days for calls), or None."""
    return contact.first_window(
        site=site, customer=customer, channel=channel, earliest=earliest, latest=latest
    )


def _reminder_channel(customer: Customer) -> str | None:
    # a customer who prefers messages gets the reminder by SMS (they can answer it: 1/2/3)
    if customer.preferred_channel == Channel.SMS:
        return contact.first_channel(customer, (Channel.SMS, Channel.CALL))
    return contact.first_channel(customer, (Channel.CALL, Channel.SMS))


def reminder_source_key(appointment: Appointment) -> str:
    from datetime import UTC

    return f"appointment:{appointment.pk}:{appointment.start.astimezone(UTC).isoformat()}"


def _schedule_reminders(appointment: Appointment, *, now: datetime) -> list:
    """Write the day-before and shortly-before reminder call tasks (inside the booking's
    transaction). A reminder whose window has passed, or that falls wholly in the customer's
    quiet hours, is skipped; without call or SMS consent there are none."""

    site, customer = appointment.site, appointment.customer
    channel = _reminder_channel(customer)
    if channel is None:
        return []
    tz = site.tzinfo
    start = appointment.start
    local_day = start.astimezone(tz).date()
    day_before = local_day - timedelta(days=1)
    plans = [
        (
            TaskKind.REMINDER_DAY_BEFORE,
            datetime.combine(day_before, time(site.reminder_day_before_hour), tzinfo=tz),
            datetime.combine(day_before, site.calling_hours_end, tzinfo=tz),
        ),
        (
            TaskKind.REMINDER_SOON,
            start - timedelta(minutes=site.reminder_before_minutes),
            start - SOON_REMINDER_LAST_CALL,
        ),
    ]
    message = selectors.confirmation_text(appointment)
    tasks = []
    for kind, earliest, latest in plans:
        earliest = max(earliest, now)
        if latest <= earliest:
            continue
        window = reminder_window(
            site=site, customer=customer, earliest=earliest, latest=latest, channel=channel
        )
        if window is None:
            continue
        task = _task_schedule(
            appointment,
            site=site,
            kind=kind,
            source_key=reminder_source_key(appointment),
            customer=customer,
            vehicle=appointment.vehicle,
            due_at=window[0],
            due_until=window[1],
            channel=channel,
            message=message,
            data={"appointment_id": appointment.pk, "start": start.isoformat()},
        )
        tasks.append(task)
    return tasks


def _task_schedule(appointment: Appointment, **fields):
    """The outreach engine's task for (kind, source_key), linked to `appointment` when made."""
    task, created = task_schedule(**fields)
    if created:  # a task made just now has no link yet: one INSERT, not an update_or_create
        AppointmentCallTask.objects.create(task=task, appointment=appointment)
    return task


def task_link(*, task, appointment: Appointment) -> None:
    """Record that call task `task` is about `appointment` (a task has at most one)."""
    AppointmentCallTask.objects.update_or_create(task=task, defaults={"appointment": appointment})


def _cancel_reminders(appointment: Appointment, *, actor, note: str) -> int:
    return tasks_cancel(
        actor=actor,
        note=note,
        appointment=appointment,
        kind__in=[TaskKind.REMINDER_DAY_BEFORE, TaskKind.REMINDER_SOON],
    )


# --- booking ---------------------------------------------------------------------------------
def _check_vehicle_free(
    *,
    site: Site,
    vehicle: Vehicle,
    start: datetime,
    end: datetime,
    allow_same_day: bool,
    exclude_id: int | None = None,
    by_customer: bool = False,
) -> None:
    """One car, one active appointment at a time: an overlapping one is refused (409 naming it);
    a second one on the same day needs `allow_same_day`. The caller holds the vehicle's row
    lock, so two parallel bookings of one car are decided one after the other."""
    others = Appointment.objects.filter(vehicle=vehicle, status__in=ACTIVE_STATUSES).exclude(
        pk=exclude_id
    )
    overlapping = others.filter(start__lt=end, end__gt=start).order_by("start").first()
    if overlapping is not None:
        msg = _(
            "This car already has an appointment at %(time)s (#%(id)s); change that one instead."
        ) % {"time": _fmt(site, overlapping.start), "id": overlapping.pk}
        raise ConflictError(
            msg,
            fields={"start": msg},
            extra={"code": "vehicle_booked", "appointment": overlapping.pk},
        )
    if allow_same_day:
        return
    day = timezone.localtime(start, site.tzinfo).date()
    same_day = others.filter(day=day).order_by("start").first()
    if same_day is not None and by_customer:
        msg = _(
            "Your car already has an appointment that day at %(time)s. To come twice the same "
            "day, please call the service desk."
        ) % {"time": _fmt(site, same_day.start)}
        raise ConflictError(msg, fields={"start": msg}, extra={"code": "vehicle_same_day"})
    if same_day is not None:
        msg = _(
            "This car already has an appointment that day at %(time)s (#%(id)s). To book a "
            "second visit the same day, say so (another visit the same day)."
        ) % {"time": _fmt(site, same_day.start), "id": same_day.pk}
        raise ConflictError(
            msg,
            fields={"allow_same_day": msg},
            extra={"code": "vehicle_same_day", "appointment": same_day.pk},
        )


def appointment_book(
    *,
    site: Site,
    customer: Customer,
    vehicle: Vehicle,
    start: datetime,
    actor,
    advisor=None,
    estimated_hours=None,
    services: Sequence = (),
    source: str = Appointment.Source.CUSTOMER,
    channel: str = Appointment.BookingChannel.PHONE,
    notes: str = "",
    override_reason: str = "",
    call_task=None,
    now: datetime | None = None,
    to_confirm: bool = False,
    allow_same_day: bool = False,
    _walk_in: bool = False,
    _by_customer: bool = False,
) -> Appointment:
    """Book a reception slot and its workshop hours; schedule the reminder calls.

    A car has one active appointment at a time: one overlapping another of the same car is a
    409 naming it, and a second one the same day needs `allow_same_day`.

    `estimated_hours` defaults to the sum of the chosen services' standard hours.
    Raises ApplicationError (400) for bad input or a buffer without reason, ConflictError (409)
    for a taken slot or a full day, PermissionDeniedError (403) for a missing role.
    """
    now = now or timezone.now()
    override_reason, notes = (override_reason or "").strip(), notes or ""
    if _by_customer:
        override_reason = ""  # a customer never overrides a buffer or the capacity
    else:
        require_role(actor, site, *BOOKING_ROLES)
    if customer.site_id != site.pk:
        raise ApplicationError(_("Unknown customer."), fields={"customer": _("Unknown customer.")})
    if vehicle.site_id != site.pk:
        raise ApplicationError(_("Unknown vehicle."), fields={"vehicle": _("Unknown vehicle.")})
    if source not in Appointment.Source.values:
        raise ApplicationError(_("Unknown source."), fields={"source": _("Unknown source.")})
    if channel not in Appointment.BookingChannel.values:
        raise ApplicationError(_("Unknown channel."), fields={"channel": _("Unknown channel.")})
    start = _require_start(start)
    offerings, free_items = _services(site, services)
    if estimated_hours in (None, ""):
        hours = sum((o.standard_hours for o in offerings), Decimal("0.0")) or Decimal("1.0")
    else:
        hours = _as_hours(estimated_hours)
    if timezone.is_naive(start):
        start = timezone.make_aware(start, site.tzinfo)
    slot = _check_slot(
        site=site,
        start=start,
        now=now,
        actor=actor,
        override_reason=override_reason or ("walk-in" if _walk_in else ""),
    )
    day = slot.start.date()
    try:
        with transaction.atomic():
            Vehicle.objects.select_for_update().filter(pk=vehicle.pk).first()  # vehicle, then days
            _lock_days(site, [day])
            _check_vehicle_free(
                site=site,
                vehicle=vehicle,
                start=slot.start,
                end=slot.end,
                allow_same_day=allow_same_day or _walk_in,
                by_customer=_by_customer,
            )
            over = _check_capacity(
                site=site,
                day=day,
                hours=hours,
                actor=actor,
                override_reason=override_reason,
                allow=_walk_in,
            )
            chosen = _pick_advisor(site=site, start=slot.start, advisor=advisor)
            appointment = Appointment.objects.create(
                site=site,
                customer=customer,
                vehicle=vehicle,
                advisor=chosen,
                start=slot.start,
                end=slot.end,
                day=day,
                estimated_hours=hours,
                services=[
                    {"code": o.code, "name": o.name, "hours": str(o.standard_hours)}
                    for o in offerings
                ]
                + free_items,
                source=source,
                channel=channel,
                is_buffer_slot=slot.is_buffer,
                override_reason=override_reason.strip()[:200],
                notes=notes,
                to_confirm=to_confirm,
                created_by=actor if getattr(actor, "is_authenticated", False) else None,
            )
            PartReservation.objects.bulk_create(
                PartReservation(
                    appointment=appointment,
                    part_number=str(p.get("part_number", ""))[:40],
                    name=str(p.get("name", ""))[:120] or str(p.get("part_number", "")),
                    quantity=Decimal(str(p.get("quantity", 1))),
                )
                for o in offerings
                for p in (o.parts or [])
            )
            _store_booked(site, day)
            audit.record(
                subject=appointment,
                action="booked",
                actor=actor,
                to_state=appointment.status,
                note=override_reason,
                data={
                    "start": appointment.start.astimezone(site.tzinfo).isoformat(),
                    "advisor_id": chosen.pk,
                    "hours": str(hours),
                    "buffer_override": slot.is_buffer,
                    "capacity_override": over,
                    "call_task_id": getattr(call_task, "pk", None),
                },
            )
            _schedule_reminders(appointment, now=now)
    except IntegrityError:
        # The unique (advisor, start) constraint caught a race the lock did not.
        raise _slot_taken(site, slot.start, advisor or actor) from None
    return appointment


def appointment_confirm(*, appointment_id, actor, note: str = "") -> Appointment:
    with transaction.atomic():
        appointment = _get(appointment_id, lock=True)
        require_role(actor, appointment.site, *BOOKING_ROLES)
        move(
            appointment,
            to=AppointmentStatus.CONFIRMED,
            table=TRANSITIONS,
            actor=actor,
            note=note,
            extra_fields={"updated_at": timezone.now()},
        )
    return appointment


def _lock_with_days(appointment_id, extra_days: Iterable[date] = ()) -> Appointment:
    """Lock the day rows (appointment's day and `extra_days`) then the appointment itself."""
    current = _get(appointment_id)
    _lock_days(current.site, [current.day, *extra_days])
    appointment = _get(appointment_id, lock=True)
    if appointment.day != current.day:  # moved meanwhile: lock its new day too
        _lock_days(appointment.site, [appointment.day])
    return appointment


def appointment_reschedule(
    *,
    appointment_id,
    start: datetime,
    actor,
    advisor=None,
    override_reason: str = "",
    estimated_hours=None,
    now: datetime | None = None,
    _by_customer: bool = False,
) -> Appointment:
    """Move an appointment to another slot (and advisor). History keeps the old slot; the old
    reminders are cancelled and new ones scheduled for the new time."""
    now = now or timezone.now()
    override_reason = (override_reason or "").strip()
    start = _require_start(start)
    current = _get(appointment_id)
    site = current.site
    if _by_customer:
        override_reason, advisor, estimated_hours = "", None, None
    else:
        require_role(actor, site, *BOOKING_ROLES)
    if timezone.is_naive(start):
        start = timezone.make_aware(start, site.tzinfo)
    slot = _check_slot(
        site=site, start=start, now=now, actor=actor, override_reason=override_reason
    )
    hours = current.estimated_hours if estimated_hours in (None, "") else _as_hours(estimated_hours)
    try:
        with transaction.atomic():
            Vehicle.objects.select_for_update().filter(pk=current.vehicle_id).first()
            appointment = _lock_with_days(appointment_id, [slot.start.date()])
            if appointment.status not in RESCHEDULABLE:
                raise ConflictError(
                    _("A %(status)s appointment cannot be rescheduled.")
                    % {"status": appointment.get_status_display()},
                    extra={"state": appointment.status},
                )
            same_advisor = advisor is None or advisor.pk == appointment.advisor_id
            if (
                slot.start == appointment.start
                and same_advisor
                and hours == appointment.estimated_hours
            ):
                return appointment  # a repeated request: nothing to do
            _check_vehicle_free(
                site=site,
                vehicle=appointment.vehicle,
                start=slot.start,
                end=slot.end,
                allow_same_day=True,
                exclude_id=appointment.pk,
            )
            new_day = slot.start.date()
            over = _check_capacity(
                site=site,
                day=new_day,
                hours=hours,
                actor=actor,
                override_reason=override_reason,
                exclude_id=appointment.pk,
            )
            wanted = advisor or appointment.advisor
            clash = (
                Appointment.objects.filter(
                    advisor=wanted, start=slot.start, status__in=ACTIVE_STATUSES
                )
                .exclude(pk=appointment.pk)
                .exists()
            )
            if clash and advisor is not None:
                raise _slot_taken(site, slot.start, advisor)
            if clash:  # the own advisor is busy then: the least-loaded free one
                chosen = _pick_advisor(site=site, start=slot.start, advisor=None)
            elif advisor is not None and advisor.pk != appointment.advisor_id:
                chosen = _pick_advisor(site=site, start=slot.start, advisor=advisor)
            else:
                chosen = wanted
            old = {
                "start": appointment.start.astimezone(site.tzinfo).isoformat(),
                "advisor_id": appointment.advisor_id,
                "hours": str(appointment.estimated_hours),
            }
            old_day = appointment.day
            _cancel_reminders(appointment, actor=actor, note=_("Appointment rescheduled"))
            appointment.start, appointment.end, appointment.day = slot.start, slot.end, new_day
            appointment.advisor = chosen
            appointment.estimated_hours = hours
            appointment.is_buffer_slot = slot.is_buffer
            if override_reason:
                appointment.override_reason = override_reason.strip()[:200]
            appointment.reschedule_count += 1
            appointment.save(
                update_fields=[
                    "start",
                    "end",
                    "day",
                    "advisor",
                    "estimated_hours",
                    "is_buffer_slot",
                    "override_reason",
                    "reschedule_count",
                    "updated_at",
                ]
            )
            for day in {old_day, new_day}:
                _store_booked(site, day)
            audit.record(
                subject=appointment,
                action="rescheduled",
                actor=actor,
                from_state=appointment.status,
                to_state=appointment.status,
                note=override_reason,
                data={
                    "from": old,
                    "to": {
                        "start": appointment.start.astimezone(site.tzinfo).isoformat(),
                        "advisor_id": chosen.pk,
                        "hours": str(hours),
                    },
                    "capacity_override": over,
                },
            )
            if appointment.status == AppointmentStatus.RESCHEDULING:
                move(
                    appointment,
                    to=AppointmentStatus.BOOKED,
                    table=TRANSITIONS,
                    actor=actor,
                    action="rebooked",
                    note=_("New time agreed with the customer."),
                )
            _schedule_reminders(appointment, now=now)
    except IntegrityError:
        raise _slot_taken(site, slot.start, advisor or current.advisor) from None
    return appointment


# A customer's reply to a reminder, as the agent's call outcome it stands for.
REPLY_OUTCOMES = {"1": "confirmed", "2": "reschedule", "3": "cancel"}


def appointment_reply(*, appointment_id: int, task_id: int, choice: str, text: str) -> str | None:
    """The customer answered the reminder by message: "1" confirms, "3" cancels, "2" asks for
    another time (the appointment waits in `rescheduling` and an agent gets a call to agree
    it). Recorded on the reminder as its outcome, like an agent's call. Returns the label the
    messaging layer records, or None when the appointment is past answering."""
    from outreach.models import TaskKind
    from outreach.services import call_task_answered

    outcome = REPLY_OUTCOMES.get(choice)
    if outcome is None:
        return None
    note = _("The customer replied “%(text)s” to the reminder.") % {"text": text[:100]}
    with transaction.atomic():
        appointment = _lock_with_days(appointment_id)
        if appointment.status not in RESCHEDULABLE:
            return None
        if outcome == "confirmed":
            move(appointment, to=AppointmentStatus.CONFIRMED, table=TRANSITIONS, note=note)
        elif outcome == "cancel":
            _release(appointment, to=AppointmentStatus.CANCELLED, actor=None, note=note)
        else:
            _cancel_reminders(appointment, actor=None, note=note)
            move(appointment, to=AppointmentStatus.RESCHEDULING, table=TRANSITIONS, note=note)
            now = timezone.now()
            _task_schedule(
                appointment,
                site=appointment.site,
                kind=TaskKind.REMINDER_DAY_BEFORE,
                source_key=f"{reminder_source_key(appointment)}:reply",
                customer=appointment.customer,
                vehicle=appointment.vehicle,
                due_at=now,
                due_until=max(appointment.start, now + timedelta(hours=2)),
                message=_("The customer asked for another time: agree it and reschedule."),
                data={"appointment_id": appointment.pk, "start": appointment.start.isoformat()},
            )
        call_task_answered(task_id=task_id, outcome=outcome, text=text)
    return "reminder_outcome"


def _release(appointment: Appointment, *, to: str, actor, note: str, reason_field=None) -> bool:
    """Move to a non-holding state (cancelled, no-show); frees hours and reminders."""
    _obj, changed = move(
        appointment,
        to=to,
        table=TRANSITIONS,
        actor=actor,
        note=note,
        extra_fields={"updated_at": timezone.now()},
    )
    if changed:
        _cancel_reminders(appointment, actor=actor, note=note)
        _store_booked(appointment.site, appointment.day)
    return changed


def appointment_cancel(
    *, appointment_id, actor, reason: str, _by_customer: bool = False
) -> Appointment:
    if not (reason or "").strip():
        raise ApplicationError(
            _("Say why the appointment is cancelled."),
            fields={"reason": _("A reason is required.")},
        )
    with transaction.atomic():
        appointment = _lock_with_days(appointment_id)
        if not _by_customer:
            require_role(actor, appointment.site, *BOOKING_ROLES)
        _release(appointment, to=AppointmentStatus.CANCELLED, actor=actor, note=reason.strip())
    return appointment


# --- the customer's own booking (online, after a confirmed one-time code) -------------------
def appointment_book_online(
    *,
    site: Site,
    customer: Customer,
    vehicle: Vehicle,
    start: datetime,
    services: Sequence,
    to_confirm: bool = False,
    notes: str = "",
    now: datetime | None = None,
) -> Appointment:
    """The customer books from the online page: the same slot, buffer and capacity rules as the
    front desk, never an override (buffer slots and full days are refused), menu services only,
    source "customer", channel "online". The advisor is the least-loaded free one."""
    codes = [str(s).strip() for s in services or () if str(s).strip()]
    if not codes:
        msg = _("Choose at least one service.")
        raise ApplicationError(msg, fields={"services": msg})
    known = set(
        ServiceOffering.objects.filter(site=site, code__in=codes, active=True).values_list(
            "code", flat=True
        )
    )
    if set(codes) - known:
        msg = _("Choose services from the list.")
        raise ApplicationError(msg, fields={"services": msg})
    return appointment_book(
        site=site,
        customer=customer,
        vehicle=vehicle,
        start=start,
        actor=None,
        services=codes,
        source=Appointment.Source.CUSTOMER,
        channel=Appointment.BookingChannel.ONLINE,
        notes=notes,
        to_confirm=to_confirm,
        now=now,
        _by_customer=True,
    )


def appointment_reschedule_by_customer(
    *, appointment_id, start: datetime, now: datetime | None = None
) -> Appointment:
    """The customer moves their own booking from the confirmation link: no override, any free
    advisor if their own is busy then."""
    return appointment_reschedule(
        appointment_id=appointment_id, start=start, actor=None, now=now, _by_customer=True
    )


def appointment_cancel_by_customer(*, appointment_id, reason: str = "") -> Appointment:
    """The customer cancels their own booking from the confirmation link."""
    return appointment_cancel(
        appointment_id=appointment_id,
        actor=None,
        reason=(reason or "").strip() or _("Cancelled by the customer online"),
        _by_customer=True,
    )


def appointment_check_in(*, appointment_id, actor, now: datetime | None = None):
    """The customer has arrived: mark the appointment `arrived` and open the repair order.

    Returns the RepairOrder opened by `workorders.services.repair_order_open` (a repeated
    check-in returns the same one).
    """
    now = now or timezone.now()
    with transaction.atomic():
        appointment = _get(appointment_id, lock=True)
        site = appointment.site
        require_role(actor, site, Role.ADVISOR)
        today = selectors.local_today(site, now)
        if appointment.status in (AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED) and (
            appointment.day != today
        ):
            raise ConflictError(
                _("This appointment is on %(day)s; check-in is on the day.")
                % {"day": appointment.day},
                extra={"code": "not_today"},
            )
        _obj, changed = move(
            appointment,
            to=AppointmentStatus.ARRIVED,
            table=TRANSITIONS,
            actor=actor,
            action="checked_in",
            extra_fields={"updated_at": now},
        )
        if changed:
            _cancel_reminders(appointment, actor=actor, note=_("Customer arrived"))
        return hooks.arrived(appointment, actor=actor)


def appointment_walk_in(
    *,
    site: Site,
    customer: Customer,
    vehicle: Vehicle,
    actor,
    advisor=None,
    estimated_hours=None,
    services: Sequence = (),
    notes: str = "",
    now: datetime | None = None,
):
    """A customer without appointment: book the next free slot (buffers first, they exist for
    this) with the acting advisor if free, and check in at once. Walk-ins may pass the day's
    capacity; the booking records it. Returns (appointment, repair_order_or_None)."""
    now = now or timezone.now()
    require_role(actor, site, Role.ADVISOR)
    today = selectors.local_today(site, now)
    opening = selectors.opening_of(site, today)
    if opening is None:
        raise ApplicationError(_("The site is closed today."))
    if (
        advisor is None
        and StaffRole.objects.filter(
            site=site, user=actor, role=Role.ADVISOR, on_duty=True
        ).exists()
    ):
        advisor = actor
    advisors = [advisor] if advisor is not None else selectors.advisors_on_duty(site)
    # The current slot counts too (a walk-in arrives during it).
    step = timedelta(minutes=site.slot_minutes)
    free = selectors.free_slots(
        site=site, day=today, advisors=advisors, now=now - step, include_buffers=True
    )
    if not free:
        raise ConflictError(
            _("No reception slot is free for the rest of today."), extra={"code": "slot_taken"}
        )
    # earliest first; within the same time a buffer first
    free.sort(key=lambda s: (s["start"], not s["is_buffer"]))
    choice = free[0]
    from django.contrib.auth import get_user_model

    chosen = advisor or get_user_model().objects.get(pk=choice["advisor_id"])
    book_at = choice["start"]
    appointment = appointment_book(
        site=site,
        customer=customer,
        vehicle=vehicle,
        start=book_at,
        actor=actor,
        advisor=chosen,
        estimated_hours=estimated_hours,
        services=services,
        channel=Appointment.BookingChannel.WALK_IN,
        notes=notes,
        override_reason=_("Walk-in") if choice["is_buffer"] else "",
        now=min(now, book_at - timedelta(seconds=1)),
        _walk_in=True,
    )
    ro = appointment_check_in(appointment_id=appointment.pk, actor=actor, now=now)
    appointment.refresh_from_db()
    return appointment, ro


def appointments_mark_no_show(*, now: datetime | None = None) -> int:
    """Booked/confirmed appointments past their slot plus the site's grace become no-shows."""
    now = now or timezone.now()
    count = 0
    for site in Site.objects.all():
        cutoff = now - timedelta(minutes=site.no_show_grace_minutes)
        ids = list(
            Appointment.objects.filter(
                site=site,
                status__in=[
                    AppointmentStatus.BOOKED,
                    AppointmentStatus.CONFIRMED,
                    AppointmentStatus.RESCHEDULING,
                ],
                start__lt=cutoff,
            ).values_list("pk", flat=True)
        )
        for pk in ids:
            with transaction.atomic():
                appointment = _lock_with_days(pk)
                if appointment.status not in (
                    AppointmentStatus.BOOKED,
                    AppointmentStatus.CONFIRMED,
                    AppointmentStatus.RESCHEDULING,
                ):
                    continue  # checked in or cancelled meanwhile
                if _release(
                    appointment,
                    to=AppointmentStatus.NO_SHOW,
                    actor=None,
                    note=_("Not checked in %(n)s minutes after the slot")
                    % {"n": site.no_show_grace_minutes},
                ):
                    count += 1
    return count


# --- parts -----------------------------------------------------------------------------------
def part_reserve(*, reservation_id, actor, reserved: bool = True, now=None) -> PartReservation:
    """The parts clerk reserves (or releases) a part for a booked appointment."""
    now = now or timezone.now()
    with transaction.atomic():
        try:
            row = (
                PartReservation.objects.select_for_update(of=("self",))
                .select_related("appointment__site")
                .get(pk=reservation_id)
            )
        except (PartReservation.DoesNotExist, ValueError, TypeError):
            raise NotFoundError(_("No such part reservation.")) from None
        site = row.appointment.site
        require_role(actor, site, Role.PARTS_CLERK)
        if reserved == row.is_reserved:
            return row
        row.reserved_at = now if reserved else None
        row.reserved_by = actor if reserved else None
        row.save(update_fields=["reserved_at", "reserved_by"])
        audit.record(
            subject=row.appointment,
            action="part_reserved" if reserved else "part_unreserved",
            actor=actor,
            note=f"{row.part_number} {row.name} × {row.quantity}".strip(),
            data={"reservation_id": row.pk},
        )
    return row
