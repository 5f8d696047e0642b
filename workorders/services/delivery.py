"""Step 6, settlement and delivery: the total approved, the invoice, ready to collect, handover
and delivery (the apps above are told by `signals.repair_order_delivered`), cancellation."""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.services import vehicle_estimates_update
from dms import audit
from dms.exceptions import ApplicationError, ConflictError

from .. import signals
from ..models import (
    HANDOVER_ITEMS,
    Approval,
    PaymentMethod,
    RepairOrder,
)
from ..transitions import TRANSITIONS
from .common import (
    ADVISOR,
    S,
    _already_recorded,
    _billable_lines,
    _check_channel,
    _conflict,
    _decimal,
    _lock_ro,
    _transition,
    authorized_amount,
    lines_totals,
    money,
)
from .qc import _clean_checklist


def ro_approve_total(
    *, repair_order_id, actor, amount, channel: str, customer_name: str = "", note: str = ""
) -> Approval:
    """The customer consents to a total above the not-to-exceed amount."""
    _check_channel(channel)
    amount = money(_decimal(amount, "amount", minimum=Decimal("0.01")))
    with transaction.atomic():
        ro = _lock_ro(repair_order_id, actor, ADVISOR)
        if ro.status in (S.INVOICED, S.DELIVERED, S.CANCELLED):
            raise _conflict(ro, _("record consent to a higher total"))
        name = (customer_name or "").strip() or ro.customer.name
        approval = Approval.objects.create(
            repair_order=ro,
            kind=Approval.Kind.OVER_LIMIT,
            estimate_version=ro.estimate_version,
            customer_name=name[:120],
            channel=channel,
            answered_at=timezone.now(),
            approved_amount=amount,
            recorded_by=actor,
            note=(note or "")[:300],
        )
        audit.record(
            subject=ro,
            action="total_approved",
            actor=actor,
            data={"amount": str(amount), "channel": channel, "customer": name},
        )
        return approval


def ro_invoice(*, repair_order_id, actor, note: str = "") -> RepairOrder:
    """Produce the settlement from the actual lines; a total above what the customer agreed to
    needs an approval on record."""
    with transaction.atomic():
        ro = _lock_ro(repair_order_id, actor, ADVISOR)
        if ro.status == S.INVOICED:
            return ro
        if ro.status != S.READY:
            raise _conflict(ro, "invoice")
        totals = lines_totals(_billable_lines(ro), tax_rate=ro.site.tax_rate)
        limit = authorized_amount(ro)
        if limit is not None and totals["grand_total"] > limit:
            msg = _(
                "The total %(total)s is above the amount the customer agreed to (%(limit)s): "
                "record the customer's consent to the higher total first."
            ) % {"total": totals["grand_total"], "limit": limit}
            raise ConflictError(
                msg,
                fields={"grand_total": msg},
                extra={"grand_total": str(totals["grand_total"]), "limit": str(limit)},
            )
        _transition(
            ro,
            to=S.INVOICED,
            sources={S.READY},
            action="invoice",
            actor=actor,
            note=note,
            data={k: str(v) for k, v in totals.items()},
            extra={
                **totals,
                "invoiced_at": timezone.now(),
                "invoice_number": ro.invoice_number or invoice_number_for(ro),
            },
        )
        return ro


def invoice_number_for(ro: RepairOrder) -> str:
    """The settlement's number: the RO's number under the invoice prefix (unique per site)."""
    return "INV-" + ro.number.removeprefix("RO-")


def ro_notify_ready(
    *, repair_order_id, actor, channel: str = "phone", note: str = ""
) -> RepairOrder:
    """Record that the customer was told the car is ready for pick-up."""
    _check_channel(channel)
    with transaction.atomic():
        ro = _lock_ro(repair_order_id, actor, ADVISOR)
        if ro.status not in (S.READY, S.INVOICED):
            raise _conflict(ro, _("tell the customer the car is ready"))
        ro.ready_notified_at = timezone.now()
        ro.save(update_fields=["ready_notified_at", "updated_at"])
        audit.record(
            subject=ro, action="ready_notified", actor=actor, note=note, data={"channel": channel}
        )
        return ro


def next_service_defaults(ro: RepairOrder, *, today: date | None = None) -> dict:
    """Next service due date and km from the vehicle's interval, counted from this visit."""
    vehicle = ro.vehicle
    today = today or timezone.localdate()
    months = vehicle.service_interval_months or 6
    year, month = divmod(today.month - 1 + months, 12)
    year += today.year
    month += 1
    day = min(today.day, calendar.monthrange(year, month)[1])
    km_now = max(ro.odometer_km or 0, vehicle.mileage_km or 0)
    return {
        "next_service_due_date": date(year, month, day),
        "next_service_due_km": km_now + (vehicle.service_interval_km or 10000),
    }


def _update_vehicle_after_delivery(ro: RepairOrder, *, actor, now: datetime, due: dict) -> None:
    from customers.models import Customer, Vehicle

    vehicle = Vehicle.objects.select_for_update().get(pk=ro.vehicle_id)
    read_on = timezone.localtime(now, ro.site.tzinfo).date()
    if ro.odometer_km:
        try:
            from customers.services import vehicle_record_mileage
        except ImportError:
            vehicle_record_mileage = None
        if vehicle_record_mileage is not None:
            vehicle_record_mileage(
                vehicle=vehicle, km=ro.odometer_km, read_on=read_on, actor=actor, strict=False
            )
            vehicle.refresh_from_db()
        elif ro.odometer_km > vehicle.mileage_km:
            vehicle.mileage_km = ro.odometer_km
            vehicle.mileage_read_at = read_on
            vehicle.save(update_fields=["mileage_km", "mileage_read_at", "updated_at"])
    vehicle.last_visit_at = now
    vehicle.next_service_due_date = due["next_service_due_date"]
    vehicle.next_service_due_km = due["next_service_due_km"]
    update = ["last_visit_at", "next_service_due_date", "next_service_due_km", "updated_at"]
    if ro.is_first_service and not vehicle.first_service_done:
        vehicle.first_service_done = True
        update.append("first_service_done")
    vehicle.save(update_fields=update)
    vehicle_estimates_update(vehicle=vehicle)  # the next service counts from this visit
    Customer.objects.filter(pk=ro.customer_id).update(last_delivery_at=now, updated_at=now)


def ro_deliver(
    *,
    repair_order_id,
    actor,
    payment_method: str,
    handover: dict,
    next_service_due_date: date | None = None,
    next_service_due_km: int | None = None,
    book_next: dict | None = None,
    note: str = "",
) -> RepairOrder:
    """Hand the car over: payment recorded, handover explained, next service recorded (and the
    next appointment booked in one step if asked). Updates the vehicle's mileage, next service
    and last visit, the customer's last delivery, and schedules the follow-up call."""
    errors: dict[str, list[str]] = {}
    if payment_method not in PaymentMethod.values:
        errors["payment_method"] = [_("Choose the payment method.")]
    cleaned = (
        _clean_checklist(handover, HANDOVER_ITEMS, "handover")
        if isinstance(handover, Mapping)
        else None
    )
    if cleaned is None:
        errors["handover"] = [_("Tick the handover checklist.")]
    else:
        missing = [str(HANDOVER_ITEMS[k]) for k, ok in cleaned.items() if not ok]
        if missing:
            errors["handover"] = [_("Not ticked: %(items)s.") % {"items": ", ".join(missing)}]
    if next_service_due_km is not None and next_service_due_km < 0:
        errors["next_service_due_km"] = [_("Cannot be negative.")]
    if errors:
        raise ApplicationError(next(iter(errors.values()))[0], fields=errors)
    with transaction.atomic():
        ro = _lock_ro(repair_order_id, actor, ADVISOR)
        if ro.status == S.DELIVERED:
            _already_recorded(
                ro, "deliver", {"payment_method": (ro.payment_method, payment_method)}
            )
            return ro
        if ro.status != S.INVOICED:
            raise _conflict(ro, "deliver")
        now = timezone.now()
        due = next_service_defaults(ro, today=timezone.localtime(now, ro.site.tzinfo).date())
        if next_service_due_date is not None:
            if next_service_due_date <= timezone.localtime(now, ro.site.tzinfo).date():
                msg = _("The next service date must be in the future.")
                raise ApplicationError(msg, fields={"next_service_due_date": msg})
            due["next_service_due_date"] = next_service_due_date
        if next_service_due_km is not None:
            due["next_service_due_km"] = next_service_due_km
        _transition(
            ro,
            to=S.DELIVERED,
            sources={S.INVOICED},
            action="deliver",
            actor=actor,
            note=note,
            data={"payment_method": payment_method},
            extra={
                "delivered_at": now,
                "delivered_day": timezone.localtime(now, ro.site.tzinfo).date(),
                "payment_method": payment_method,
                "handover": cleaned,
                **due,
            },
        )
        _update_vehicle_after_delivery(ro, actor=actor, now=now, due=due)
        if book_next:
            _book_next(ro, actor=actor, book_next=book_next)
        # the apps above act in this transaction: followups schedules the follow-up call,
        # portal gives its invitation the survey link (receivers run in INSTALLED_APPS order)
        signals.repair_order_delivered.send(sender=RepairOrder, repair_order=ro)
        return ro


def _book_next(ro: RepairOrder, *, actor, book_next: dict) -> None:
    try:
        from appointments.services import appointment_book
    except ImportError:
        msg = _("Booking from the delivery screen is not available yet.")
        raise ApplicationError(msg, fields={"book_next": msg}) from None
    start = book_next.get("start")
    if not isinstance(start, datetime):
        msg = _("Choose the date and time of the next appointment.")
        raise ApplicationError(msg, fields={"book_next.start": msg})
    try:
        appointment = appointment_book(
            site=ro.site,
            customer=ro.customer,
            vehicle=ro.vehicle,
            start=start,
            actor=actor,
            advisor=ro.advisor,
            estimated_hours=_decimal(book_next.get("estimated_hours") or 1, "book_next.hours"),
            services=tuple(book_next.get("services") or ()),
            source="customer",
            channel="front_desk",
            notes=_("Booked at delivery of %(number)s") % {"number": ro.number},
        )
    except ApplicationError as exc:
        exc.fields = {f"book_next.{k}": v for k, v in exc.fields.items()} or {
            "book_next": [exc.message]
        }
        raise
    audit.record(
        subject=ro, action="next_booked", actor=actor, data={"appointment": appointment.pk}
    )


def ro_cancel(*, repair_order_id, actor, reason: str) -> RepairOrder:
    """Cancel with a reason, from any state before invoiced."""
    reason = (reason or "").strip()
    if not reason:
        msg = _("Give the reason for cancelling.")
        raise ApplicationError(msg, fields={"reason": msg})
    with transaction.atomic():
        ro = _lock_ro(repair_order_id, actor, ADVISOR)
        if ro.status == S.CANCELLED:
            _already_recorded(ro, "cancel", {"reason": (ro.cancel_reason, reason[:200])})
            return ro
        if S.CANCELLED not in TRANSITIONS.get(ro.status, ()):
            raise _conflict(ro, "cancel")
        _transition(
            ro,
            to=S.CANCELLED,
            sources=[s for s, nxt in TRANSITIONS.items() if S.CANCELLED in nxt],
            action="cancel",
            actor=actor,
            note=reason,
            extra={"cancelled_at": timezone.now(), "cancel_reason": reason[:200]},
        )
        vehicle_estimates_update(vehicle=ro.vehicle)  # its odometer no longer counts
        return ro
