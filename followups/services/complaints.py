"""Complaints (投诉): opening, a handler, contacting the customer, the decision and remedy,
the confirming call, and escalation when nobody responded in time."""

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from dms import audit
from dms.exceptions import ApplicationError, ConflictError, PermissionDeniedError
from dms.models import Role
from dms.permissions import has_role, require_role
from dms.statemachine import move
from outreach.models import CallTask, TaskKind
from outreach.services import next_call_start, pick_agent
from workorders.services import task_schedule_for

from ..models import Complaint, ComplaintCause, ComplaintChannel, ComplaintDecision, ComplaintStatus
from ..transitions import COMPLAINT_TRANSITIONS

# --- complaints --------------------------------------------------------------------------------
COMPLAINT_OPENERS = (Role.FOLLOWUP_AGENT, Role.ADVISOR)


def _choice(value, choices, field: str, message: str) -> str:
    if value not in choices.values:
        raise ApplicationError(message, fields={field: _("Choose one of the listed values.")})
    return value


def _amount(value, field: str) -> Decimal:
    try:
        amount = Decimal(str(value if value not in (None, "") else "0"))
    except InvalidOperation:
        amount = Decimal("-1")
    if not amount.is_finite() or amount < 0:
        raise ApplicationError(
            _("Amounts cannot be negative."), fields={field: _("Enter an amount of 0 or more.")}
        )
    return amount.quantize(Decimal("0.01"))


def _get_complaint(complaint_id, *, actor) -> Complaint:
    from dms.exceptions import NotFoundError

    complaint = (
        Complaint.objects.select_for_update(of=("self",))
        .select_related("site", "repair_order", "customer", "handler")
        .filter(pk=complaint_id)
        .first()
    )
    if complaint is None or not has_role(actor, complaint.site):
        raise NotFoundError(_("No such complaint."))
    return complaint


@transaction.atomic
def complaint_open(
    *,
    site,
    actor,
    channel: str,
    customer,
    description: str,
    repair_order=None,
    vehicle=None,
    call_task=None,
    cause: str = "",
    _by_customer: bool = False,
) -> Complaint:
    """Open a complaint, linked to the RO, its advisor and its technicians."""
    if not _by_customer:
        require_role(actor, site, *COMPLAINT_OPENERS)
    _choice(channel, ComplaintChannel, "channel", _("Unknown complaint channel."))
    if cause:
        _choice(cause, ComplaintCause, "cause", _("Unknown cause."))
    errors = {}
    if not (description or "").strip():
        errors["description"] = _("Write down what the customer says.")
    if customer is None or customer.site_id != site.pk:
        errors["customer"] = _("Choose a customer of this site.")
    if repair_order is not None and (
        repair_order.site_id != site.pk or (customer and repair_order.customer_id != customer.pk)
    ):
        errors["repair_order"] = _("This repair order is not the customer's.")
    if errors:
        raise ApplicationError(_("The complaint could not be opened."), fields=errors)
    now = timezone.now()
    complaint = Complaint.objects.create(
        site=site,
        channel=channel,
        customer=customer,
        vehicle=vehicle or (repair_order.vehicle if repair_order else None),
        repair_order=repair_order,
        advisor=repair_order.advisor if repair_order else None,
        call_task=call_task,
        description=description.strip(),
        cause=cause,
        opened_by=actor,
        respond_by=now + timedelta(hours=site.complaint_response_hours),
    )
    if repair_order is not None:
        tech_ids = set(
            repair_order.lines.filter(technician__isnull=False).values_list(
                "technician_id", flat=True
            )
        )
        complaint.technicians.set(tech_ids)
    audit.record(
        subject=complaint,
        action="opened",
        actor=actor,
        to_state=complaint.status,
        note=complaint.description,
        data={"channel": channel},
    )
    return complaint


@transaction.atomic
def complaint_assign(*, complaint_id: int, actor, handler) -> Complaint:
    """Give the complaint a handler. Staff may take an unassigned one; a manager can assign it
    to anyone or take it over. Never the advisor the complaint is about."""
    complaint = _get_complaint(complaint_id, actor=actor)
    if handler is None:
        raise ApplicationError(_("Choose a handler."), fields={"handler": _("Required.")})
    taking_free = handler.pk == actor.pk and complaint.handler_id is None
    if not taking_free:
        require_role(actor, complaint.site, Role.MANAGER)
    require_role(handler, complaint.site, *COMPLAINT_OPENERS)
    if complaint.advisor_id and handler.pk == complaint.advisor_id:
        raise PermissionDeniedError(
            _("The advisor the complaint is about cannot handle it."),
            fields={"handler": _("Choose someone else.")},
        )
    if complaint.status not in (ComplaintStatus.OPEN, ComplaintStatus.ASSIGNED):
        # a manager taking over later keeps the state and records the change
        require_role(actor, complaint.site, Role.MANAGER)
        old = complaint.handler
        complaint.handler = handler
        complaint.save(update_fields=["handler", "updated_at"])
        audit.record(
            subject=complaint,
            action="taken_over",
            actor=actor,
            from_state=complaint.status,
            to_state=complaint.status,
            data={"from": old.get_username() if old else None, "to": handler.get_username()},
        )
        return complaint
    move(
        complaint,
        to=ComplaintStatus.ASSIGNED,
        table=COMPLAINT_TRANSITIONS,
        actor=actor,
        action="assigned",
        idempotent=False,
        data={"handler": handler.get_username()},
        extra_fields={"handler": handler, "updated_at": timezone.now()},
    )
    return complaint


def _require_handler(complaint: Complaint, actor) -> None:
    if complaint.handler_id != actor.pk:
        require_role(actor, complaint.site, Role.MANAGER)


@transaction.atomic
def complaint_contact(*, complaint_id: int, actor, note: str) -> Complaint:
    complaint = _get_complaint(complaint_id, actor=actor)
    _require_handler(complaint, actor)
    if not (note or "").strip():
        raise ApplicationError(
            _("Note what was said."), fields={"note": _("Write down the conversation.")}
        )
    now = timezone.now()
    move(
        complaint,
        to=ComplaintStatus.CONTACTED,
        table=COMPLAINT_TRANSITIONS,
        actor=actor,
        action="contacted",
        note=note.strip(),
        extra_fields={
            "contacted_at": complaint.contacted_at or now,
            "contact_note": note.strip(),
            "updated_at": now,
        },
    )
    return complaint


@transaction.atomic
def complaint_decide(
    *,
    complaint_id: int,
    actor,
    decision: str,
    cause: str,
    apology: str = "",
    explanation: str = "",
    rework_start: datetime | None = None,
    rework_hours=Decimal("1.0"),
    remedy_cost=0,
    free_inspection: bool = False,
    labour_discount=0,
) -> Complaint:
    """our_fault: apology + a free rework booked at the customer's convenience, cost recorded.
    not_our_fault: explanation + a free inspection offered, optional labour discount."""
    complaint = _get_complaint(complaint_id, actor=actor)
    _require_handler(complaint, actor)
    _choice(decision, ComplaintDecision, "decision", _("Choose our fault or not our fault."))
    _choice(cause, ComplaintCause, "cause", _("Choose the cause (for reports)."))
    cost = _amount(remedy_cost, "remedy_cost")
    discount = _amount(labour_discount, "labour_discount")
    fields = {"decision": decision, "cause": cause, "decided_at": timezone.now()}
    if decision == ComplaintDecision.OUR_FAULT:
        errors = {}
        if not apology.strip():
            errors["apology"] = _("Record the apology given to the customer.")
        if rework_start is None:
            errors["rework_start"] = _("Book the free rework at a time the customer chose.")
        if errors:
            raise ApplicationError(_("The decision is incomplete."), fields=errors)
        fields.update({"apology": apology.strip(), "remedy_cost": cost})
    else:
        if not explanation.strip():
            raise ApplicationError(
                _("The decision is incomplete."),
                fields={"explanation": _("Record the explanation given to the customer.")},
            )
        fields.update(
            {
                "explanation": explanation.strip(),
                "free_inspection_offered": bool(free_inspection),
                "labour_discount": discount,
            }
        )
    move(
        complaint,
        to=ComplaintStatus.DECIDED,
        table=COMPLAINT_TRANSITIONS,
        actor=actor,
        action=f"decided_{decision}",
        note=fields.get("apology") or fields.get("explanation", ""),
        data={"cause": cause, "remedy_cost": str(cost), "labour_discount": str(discount)},
        extra_fields=fields,
    )
    if decision == ComplaintDecision.OUR_FAULT:
        complaint.rework_appointment = _book_rework(complaint, actor, rework_start, rework_hours)
        complaint.save(update_fields=["rework_appointment"])
    return complaint


def _book_rework(complaint, actor, start, hours):
    from appointments.services import appointment_book

    vehicle = complaint.vehicle or complaint.customer.vehicles.order_by("id").first()
    if vehicle is None:
        raise ApplicationError(
            _("The customer has no vehicle on record to book the rework for."),
            fields={"rework_start": _("Add the vehicle first.")},
        )
    return appointment_book(
        site=complaint.site,
        customer=complaint.customer,
        vehicle=vehicle,
        start=start,
        actor=actor,
        estimated_hours=hours,
        services=["complaint_rework"],
        source="customer",
        channel="phone",
        notes=_("Free rework for complaint #%(id)s.") % {"id": complaint.pk},
    )


@transaction.atomic
def complaint_resolve(*, complaint_id: int, actor, resolution: str) -> Complaint:
    """The remedy is done. A confirming call is scheduled; only it can close the complaint."""
    complaint = _get_complaint(complaint_id, actor=actor)
    _require_handler(complaint, actor)
    if not (resolution or "").strip():
        raise ApplicationError(_("Describe what was done."), fields={"resolution": _("Required.")})
    now = timezone.now()
    move(
        complaint,
        to=ComplaintStatus.RESOLVED,
        table=COMPLAINT_TRANSITIONS,
        actor=actor,
        action="resolved",
        note=resolution.strip(),
        extra_fields={"resolution": resolution.strip(), "resolved_at": now, "updated_at": now},
    )
    rounds = (
        CallTask.objects.filter(
            kind=TaskKind.COMPLAINT_CONFIRM, source_key__startswith=f"complaint:{complaint.pk}:"
        ).count()
        + 1
    )
    start = next_call_start(site=complaint.site, at=now)
    task, _created = task_schedule_for(
        complaint.repair_order,
        site=complaint.site,
        kind=TaskKind.COMPLAINT_CONFIRM,
        source_key=f"complaint:{complaint.pk}:{rounds}",
        customer=complaint.customer,
        vehicle=complaint.vehicle,
        due_at=start,
        due_until=start + timedelta(days=3),
        assignee=pick_agent(
            site=complaint.site, exclude_ids=[complaint.advisor_id, complaint.handler_id]
        ),
        data={"complaint_id": complaint.pk, "advisor_id": complaint.advisor_id},
    )
    complaint.confirm_task = task
    complaint.save(update_fields=["confirm_task"])
    return complaint


@transaction.atomic
def complaint_confirm(
    *, complaint_id: int, actor, satisfied: bool, comments: str = ""
) -> Complaint:
    """The confirming call's answer: satisfied closes the complaint; not satisfied sends it back
    to the handler (contacted) for another remedy."""
    complaint = _get_complaint(complaint_id, actor=actor)
    if complaint.status != ComplaintStatus.RESOLVED:
        raise ConflictError(
            _("Only a resolved complaint can be confirmed with the customer."),
            extra={"state": complaint.status},
        )
    now = timezone.now()
    if satisfied:
        move(
            complaint,
            to=ComplaintStatus.CLOSED,
            table=COMPLAINT_TRANSITIONS,
            actor=actor,
            action="closed",
            note=comments.strip() or _("The customer confirmed they are satisfied."),
            extra_fields={"closed_at": now, "updated_at": now},
        )
    else:
        move(
            complaint,
            to=ComplaintStatus.CONTACTED,
            table=COMPLAINT_TRANSITIONS,
            actor=actor,
            action="reopened",
            note=comments.strip() or _("The customer is still not satisfied."),
            extra_fields={"updated_at": now},
        )
    return complaint


def complaints_escalate(*, now: datetime | None = None) -> int:
    """Complaints not contacted by their response time escalate to the service manager
    (audited once; the dashboard and complaint list show them)."""
    now = now or timezone.now()
    count = 0
    ids = list(
        Complaint.objects.filter(
            status__in=(ComplaintStatus.OPEN, ComplaintStatus.ASSIGNED),
            respond_by__lt=now,
            escalated_at__isnull=True,
        ).values_list("id", flat=True)
    )
    for complaint_id in ids:
        with transaction.atomic():
            c = (
                Complaint.objects.select_for_update()
                .filter(pk=complaint_id, escalated_at__isnull=True)
                .first()
            )
            if c is None:
                continue
            c.escalated_at = now
            c.save(update_fields=["escalated_at", "updated_at"])
            audit.record(
                subject=c,
                action="escalated",
                from_state=c.status,
                to_state=c.status,
                note=_("Not contacted within %(h)d hours.")
                % {"h": c.site.complaint_response_hours},
            )
            count += 1
    return count
