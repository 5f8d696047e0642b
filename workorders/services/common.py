"""Writes on the repair order: open, intake, estimate lines, and one service per status move.

Every move locks the RO row (`select_for_update`), checks the table in `transitions.py` and the
move's guards, saves with `update_fields`, writes the audit row and defers side effects to
`transaction.on_commit`. A repeated identical request is a no-op; an illegal one is a 409 that
lists the allowed actions.

Additional work: `job_propose_additional()` adds the proposed line AND moves the RO to
`waiting_approval` itself (the technician's finding stops the clock for that line at once); the
advisor then phones the customer or sends the private link.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import secrets
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from dms import audit
from dms.exceptions import ApplicationError, ConflictError, NotFoundError
from dms.models import Role, Site
from dms.permissions import has_role, require_role
from dms.statemachine import lock, move

from . import signals
from .models import (
    DAMAGE_PANELS,
    FINAL_CHECK_ITEMS,
    HANDOVER_ITEMS,
    INTERIOR_CHECKS,
    QC_ITEMS,
    Approval,
    ApprovalChannel,
    ApprovalLine,
    ApprovalLink,
    EstimateVersion,
    FuelLevel,
    Intake,
    JobLine,
    PartLine,
    PaymentMethod,
    Photo,
    RepairOrder,
    RONumberSequence,
    ROStatus,
    Symptom,
)
from .transitions import EDITABLE, TRANSITIONS, allowed_actions

S = ROStatus
CENT = Decimal("0.01")
APPROVAL_LINK_DAYS = 2
# A rework that leaves less than this before the promised time needs the customer told first.
REWORK_MARGIN = timedelta(hours=1)
MAX_PHOTO_BYTES = 10 * 1024 * 1024

ADVISOR = (Role.ADVISOR,)
WORKSHOP = (Role.TECHNICIAN, Role.DISPATCHER, Role.ADVISOR)
QC = (Role.QC_INSPECTOR,)


def money(value) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def _decimal(
    value, field: str, *, minimum: Decimal = Decimal("0"), maximum: Decimal = Decimal("999999")
) -> Decimal:
    try:
        d = Decimal(str(value))
    except (InvalidOperation, TypeError, ValueError):
        raise ApplicationError(_("Enter a number."), fields={field: _("Enter a number.")}) from None
    if not d.is_finite() or d < minimum:
        msg = _("Must be at least %(min)s.") % {"min": minimum}
        raise ApplicationError(msg, fields={field: msg})
    if d > maximum:
        msg = _("Must be at most %(max)s.") % {"max": maximum}
        raise ApplicationError(msg, fields={field: msg})
    return d


def _check_role(actor, site, roles: Iterable[str]) -> None:
    if actor is not None:
        require_role(actor, site, *roles)


def _lock_ro(repair_order_id, actor, roles: Iterable[str]) -> RepairOrder:
    try:
        ro = lock(RepairOrder, repair_order_id)
    except (RepairOrder.DoesNotExist, ValueError, TypeError):
        raise NotFoundError(_("No such repair order.")) from None
    _check_role(actor, ro.site_id, roles)
    return ro


def _conflict(ro: RepairOrder, action: str) -> ConflictError:
    actions = allowed_actions(ro.status)
    return ConflictError(
        _("Cannot %(action)s: the repair order is “%(state)s”. Allowed now: %(allowed)s.")
        % {
            "action": action,
            "state": ro.get_status_display(),
            "allowed": ", ".join(actions) or _("nothing"),
        },
        extra={
            "state": ro.status,
            "allowed": sorted(TRANSITIONS.get(ro.status, ())),
            "actions": actions,
        },
    )


PROMISE_HORIZON = timedelta(days=366)


def _check_promise_horizon(promised_at: datetime | None, field: str = "promised_at") -> None:
    """A promised time more than a year ahead is a typo (9999-12-31)."""
    if promised_at is not None and promised_at > timezone.now() + PROMISE_HORIZON:
        msg = _("The promised time must be within a year.")
        raise ApplicationError(msg, fields={field: msg})


def _already_recorded(ro: RepairOrder, action: str, differences: dict[str, tuple]) -> None:
    """A repeated move is a no-op only when it asks for what was recorded; a repeat with another
    body is a 409 that says what is on record (`differences`: field → (recorded, asked))."""
    differing = {k: v for k, v in differences.items() if v[0] != v[1]}
    if not differing:
        return
    recorded = "; ".join(f"{field}: {old}" for field, (old, _new) in differing.items())
    raise ConflictError(
        _("Already done (%(action)s) with other details; on record: %(recorded)s.")
        % {"action": action, "recorded": recorded},
        fields={
            field: _("On record: %(value)s.") % {"value": old}
            for field, (old, _n) in differing.items()
        },
        extra={
            "state": ro.status,
            "recorded": {field: old for field, (old, _new) in differing.items()},
        },
    )


def _transition(
    ro: RepairOrder,
    *,
    to: str,
    sources: Iterable[str],
    action: str,
    actor,
    note: str = "",
    data: dict | None = None,
    extra: Mapping[str, Any] | None = None,
) -> bool:
    """Move `ro` (locked) to `to` if it is in one of `sources`. False if already there."""
    if ro.status == to:
        return False
    if ro.status not in set(sources):
        raise _conflict(ro, action)
    _obj, changed = move(
        ro,
        to=to,
        table=TRANSITIONS,
        actor=actor,
        action=action,
        note=note,
        data=data,
        extra_fields={**(extra or {}), "updated_at": timezone.now()},
    )
    return changed


# --- totals --------------------------------------------------------------------------------
def lines_totals(lines: Iterable[JobLine], *, tax_rate: Decimal) -> dict[str, Decimal]:
    labour = parts = discount = Decimal("0")
    for line in lines:
        labour += line.labour_amount
        parts += line.parts_amount
        discount += line.discount
    net = labour + parts - discount
    tax = money(net * tax_rate)
    return {
        "labour_total": money(labour),
        "parts_total": money(parts),
        "discount_total": money(discount),
        "tax_total": tax,
        "grand_total": money(net) + tax,
    }


def _billable_lines(ro: RepairOrder) -> list[JobLine]:
    return [
        line
        for line in ro.lines.prefetch_related("parts")
        if line.approval in (JobLine.Approval.AUTHORIZED, JobLine.Approval.APPROVED)
    ]


def _recalc(ro: RepairOrder) -> None:
    """Store the totals of the lines the customer agreed to (authorized or approved)."""
    totals = lines_totals(_billable_lines(ro), tax_rate=ro.site.tax_rate)
    for name, value in totals.items():
        setattr(ro, name, value)
    ro.save(update_fields=[*totals, "updated_at"])


def authorized_amount(ro: RepairOrder) -> Decimal | None:
    """The highest total the customer has agreed to: the not-to-exceed amount or a later
    approval on record (additional work, or consent to a higher total)."""
    amounts = [ro.not_to_exceed] if ro.not_to_exceed is not None else []
    amounts += list(
        ro.approvals.exclude(approved_amount=None).values_list("approved_amount", flat=True)
    )
    return max(amounts) if amounts else None


# --- estimate versions ---------------------------------------------------------------------
def _line_snapshot(line: JobLine) -> dict:
    return {
        "id": line.pk,
        "description": line.description,
        "operation_code": line.operation_code,
        "standard_hours": str(line.standard_hours),
        "labour_rate": str(line.labour_rate),
        "labour_amount": str(line.labour_amount),
        "discount": str(line.discount),
        "approval": line.approval,
        "is_additional": line.is_additional,
        "amount": str(line.amount),
        "parts": [
            {
                "name": p.name,
                "part_number": p.part_number,
                "quantity": str(p.quantity),
                "unit_price": str(p.unit_price),
                "amount": str(p.amount),
                "stock_status": p.stock_status,
            }
            for p in line.parts.all()
        ],
    }


def _freeze_estimate(ro: RepairOrder, actor) -> EstimateVersion:
    """Freeze the current estimate version (what the customer is shown and answers)."""
    existing = ro.estimate_versions.filter(version=ro.estimate_version).first()
    if existing:
        return existing
    lines = list(ro.lines.exclude(approval=JobLine.Approval.DECLINED).prefetch_related("parts"))
    totals = lines_totals(lines, tax_rate=ro.site.tax_rate)
    return EstimateVersion.objects.create(
        repair_order=ro,
        version=ro.estimate_version,
        lines=[_line_snapshot(line) for line in lines],
        not_to_exceed=ro.not_to_exceed,
        promised_at=ro.promised_at,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
        **totals,
    )


def _estimate_changed(ro: RepairOrder) -> None:
    """A line or price changed: if the current version was shown to the customer, start a new
    one (answers name the version they agreed to)."""
    if ro.estimate_versions.filter(version=ro.estimate_version).exists():
        ro.estimate_version += 1
        ro.save(update_fields=["estimate_version", "updated_at"])


# --- open ----------------------------------------------------------------------------------
def _next_number(site: Site, year: int) -> str:
    seq, _created = RONumberSequence.objects.get_or_create(site=site, year=year)
    seq = RONumberSequence.objects.select_for_update().get(pk=seq.pk)
    seq.last += 1
    seq.save(update_fields=["last"])
    return f"RO-{year}-{seq.last:06d}"


def _comeback_candidate(vehicle, site: Site, now: datetime) -> RepairOrder | None:
    since = now - timedelta(days=site.comeback_days)
    return (
        RepairOrder.objects.filter(
            vehicle=vehicle, status=S.DELIVERED, delivered_at__gte=since, site=site
        )
        .order_by("-delivered_at")
        .first()
    )


def repair_order_open(
    *,
    site: Site,
    customer,
    vehicle,
    advisor,
    actor,
    appointment=None,
    concern: str = "",
    is_first_service: bool = False,
    odometer_km: int | None = None,
) -> RepairOrder:
    """Open an RO (draft) for a checked-in appointment or a walk-in. Opening the same
    appointment twice returns the first RO."""
    _check_role(actor, site, ADVISOR)
    fields: dict[str, list[str]] = {}
    if vehicle.site_id != site.pk:
        fields["vehicle"] = [_("This vehicle belongs to another site.")]
    if customer.site_id != site.pk:
        fields["customer"] = [_("This customer belongs to another site.")]
    if advisor is None or not has_role(advisor, site, Role.ADVISOR):
        fields["advisor"] = [_("Choose a service advisor of this site.")]
    if appointment is not None and appointment.site_id != site.pk:
        fields["appointment"] = [_("This appointment belongs to another site.")]
    if odometer_km is not None:
        if odometer_km < 0:
            fields["odometer_km"] = [_("The odometer cannot be negative.")]
        elif odometer_km < vehicle.mileage_km:
            fields["odometer_km"] = [
                _(
                    "Lower than the last known reading (%(km)s km). Record the reading with a "
                    "reason on the intake form."
                )
                % {"km": vehicle.mileage_km}
            ]
    if fields:
        raise ApplicationError(next(iter(fields.values()))[0], fields=fields)

    with transaction.atomic():
        if appointment is not None:
            existing = RepairOrder.objects.filter(appointment=appointment).first()
            if existing:
                return existing
        now = timezone.now()
        local_day = timezone.localtime(now, site.tzinfo).date()
        comeback_of = _comeback_candidate(vehicle, site, now)
        ro = RepairOrder.objects.create(
            site=site,
            number=_next_number(site, local_day.year),
            customer=customer,
            vehicle=vehicle,
            advisor=advisor,
            appointment=appointment,
            concern=concern or (appointment.notes if appointment is not None else ""),
            is_first_service=is_first_service,
            odometer_km=odometer_km,
            opened_day=local_day,
            comeback_of=comeback_of,
        )
        Intake.objects.create(repair_order=ro, odometer_km=odometer_km)
        audit.record(
            subject=ro,
            action="opened",
            actor=actor,
            to_state=ro.status,
            data={
                "appointment": getattr(appointment, "pk", None),
                "comeback_of": getattr(comeback_of, "number", None),
            },
        )
        if comeback_of is not None:
            audit.record(
                subject=ro,
                action="comeback_flagged",
                actor=actor,
                note=_("Possible comeback of %(number)s") % {"number": comeback_of.number},
            )
        signals.repair_order_opened.send(sender=RepairOrder, repair_order=ro)
        return ro


def repair_order_open_for_appointment(*, appointment, actor) -> RepairOrder:
    """Open (or return) the RO of an arrived appointment: registered with appointments as
    what check-in does (appointments.hooks), run inside the check-in transaction."""
    existing = getattr(appointment, "repair_order", None) if appointment.pk else None
    if existing is not None:
        return existing
    concern = "; ".join(s.get("name", "") for s in appointment.services if isinstance(s, dict))
    if appointment.notes:
        concern = f"{concern}\n{appointment.notes}".strip()
    codes = {s.get("code") for s in appointment.services if isinstance(s, dict)}
    return repair_order_open(
        site=appointment.site,
        customer=appointment.customer,
        vehicle=appointment.vehicle,
        advisor=appointment.advisor,
        actor=actor,
        appointment=appointment,
        concern=concern,
        is_first_service="first_service" in codes and not appointment.vehicle.first_service_done,
    )


def ro_comeback_decide(*, repair_order_id, actor, confirmed: bool, note: str = "") -> RepairOrder:
    """The advisor confirms the possible comeback or clears the flag."""
    with transaction.atomic():
        ro = _lock_ro(repair_order_id, actor, ADVISOR)
        if ro.comeback_of_id is None:
            raise ConflictError(_("This repair order is not flagged as a comeback."))
        if ro.comeback_confirmed is confirmed:
            return ro
        ro.comeback_confirmed = confirmed
        ro.save(update_fields=["comeback_confirmed", "updated_at"])
        audit.record(
            subject=ro,
            action="comeback_confirmed" if confirmed else "comeback_cleared",
            actor=actor,
            note=note,
        )
        return ro


# --- intake --------------------------------------------------------------------------------
def _normalize_vin(value: str) -> str:
    try:
        from customers.validators import normalize_vin
    except ImportError:  # pragma: no cover - the archive app provides it
        return "".join(value.split()).upper()
    try:
        return normalize_vin(value)
    except ApplicationError:
        return "".join(value.split()).upper()


IMAGE_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "png",
    b"\xff\xd8\xff": "jpg",
    b"GIF8": "gif",
}


def _image_kind(data: bytes) -> str | None:
    for magic, kind in IMAGE_SIGNATURES.items():
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def _read_photo(upload, field: str) -> tuple[bytes, str]:
    data = upload.read() if hasattr(upload, "read") else bytes(upload)
    if len(data) > MAX_PHOTO_BYTES:
        msg = _("A photo may be at most 10 MB.")
        raise ApplicationError(msg, fields={field: msg})
    kind = _image_kind(data)
    if kind is None:
        msg = _("Upload a photo (JPEG, PNG, GIF or WebP).")
        raise ApplicationError(msg, fields={field: msg})
    return data, kind


def _save_photo(ro: RepairOrder, upload, *, actor, field: str, job=None, panel: str = "") -> Photo:
    data, kind = _read_photo(upload, field)
    photo = Photo(
        repair_order=ro,
        job=job,
        panel=panel,
        caption=getattr(upload, "name", "")[:200],
        uploaded_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    photo.image.save(f"{secrets.token_hex(8)}.{kind}", ContentFile(data), save=False)
    photo.save()
    return photo


INTAKE_TEXT_FIELDS = (
    "valuables",
    "engine_bay",
    "underbody_notes",
    "symptom_since",
    "recent_repairs",
    "added_equipment",
    "odometer_reason",
)
INTAKE_CHOICE_FIELDS = {
    "fuel_level": FuelLevel,
    "symptom_engine": Symptom.Engine,
    "symptom_speed": Symptom.Speed,
    "symptom_load": Symptom.Load,
    "symptom_road": Symptom.Road,
    "symptom_pattern": Symptom.Pattern,
}


def intake_record(
    *,
    repair_order_id,
    actor,
    covers_fitted: bool,
    vin_read: str = "",
    vin_mismatch_acknowledged: bool = False,
    odometer_km: int | None = None,
    concern: str | None = None,
    damage: Mapping[str, str] | None = None,
    interior: Mapping[str, str] | None = None,
    underbody_checked: bool = False,
    photos: Iterable[tuple[str, Any]] = (),
    **fields: Any,
) -> Intake:
    """Record the walk-around. `photos` is a list of (panel, uploaded file).

    A VIN that differs from the archive must be acknowledged; an odometer below the last known
    reading needs a reason; a first service needs the underbody check."""
    unknown = set(fields) - set(INTAKE_TEXT_FIELDS) - set(INTAKE_CHOICE_FIELDS)
    if unknown:
        raise ApplicationError(
            _("Unknown intake fields."), fields={k: _("Unknown field.") for k in unknown}
        )
    with transaction.atomic():
        ro = _lock_ro(repair_order_id, actor, ADVISOR)
        if ro.status not in EDITABLE:
            raise _conflict(ro, _("change the intake"))
        intake, _created = Intake.objects.get_or_create(repair_order=ro)
        errors: dict[str, list[str]] = {}
        vehicle = ro.vehicle

        vin = _normalize_vin(vin_read or "")
        mismatch = bool(vin) and vin != vehicle.vin
        if vin and len(vin) != 17:
            errors["vin_read"] = [_("A VIN has 17 characters.")]
        elif mismatch and not vin_mismatch_acknowledged:
            errors["vin_read"] = [
                _(
                    "The VIN on the car (%(read)s) differs from the archive (%(archive)s). "
                    "Check it, then tick the acknowledgement to continue."
                )
                % {"read": vin, "archive": vehicle.vin}
            ]
        reason = (fields.get("odometer_reason") or "").strip()
        if odometer_km is not None:
            if odometer_km < 0:
                errors["odometer_km"] = [_("The odometer cannot be negative.")]
            elif odometer_km < vehicle.mileage_km and not reason:
                errors["odometer_reason"] = [
                    _(
                        "The reading is below the last known one (%(km)s km): give a reason "
                        "(e.g. instrument cluster replaced)."
                    )
                    % {"km": vehicle.mileage_km}
                ]
        for name, choices in INTAKE_CHOICE_FIELDS.items():
            value = fields.get(name)
            if value not in (None, "") and value not in choices.values:
                errors[name] = [_("Choose one of the listed values.")]
        damage = {k: str(v).strip()[:200] for k, v in (damage or {}).items() if str(v).strip()}
        interior = {k: str(v).strip()[:200] for k, v in (interior or {}).items() if str(v).strip()}
        for key in damage:
            if key not in DAMAGE_PANELS:
                errors[f"damage.{key}"] = [_("Unknown panel.")]
        for key in interior:
            if key not in INTERIOR_CHECKS:
                errors[f"interior.{key}"] = [_("Unknown interior item.")]
        if ro.is_first_service and not underbody_checked:
            errors["underbody_checked"] = [
                _("A first service (首保) needs the underbody check on the lift.")
            ]
        photos = list(photos)
        for panel, _upload in photos:
            if panel and panel not in DAMAGE_PANELS:
                errors["photos"] = [_("Unknown panel.")]
        if errors:
            raise ApplicationError(next(iter(errors.values()))[0], fields=errors)

        intake.covers_fitted = bool(covers_fitted)
        intake.vin_read = vin
        intake.vin_mismatch = mismatch
        intake.vin_mismatch_acknowledged = bool(mismatch and vin_mismatch_acknowledged)
        intake.odometer_km = odometer_km
        intake.damage = damage
        intake.interior = interior
        intake.underbody_checked = bool(underbody_checked)
        for name in INTAKE_TEXT_FIELDS:
            if name in fields:
                setattr(intake, name, (fields[name] or "").strip())
        for name in INTAKE_CHOICE_FIELDS:
            if name in fields:
                setattr(intake, name, fields[name] or "")
        intake.recorded_by = actor if getattr(actor, "is_authenticated", False) else None
        intake.recorded_at = timezone.now()
        intake.save()
        for panel, upload in photos:
            _save_photo(ro, upload, actor=actor, field="photos", panel=panel)
        update = ["odometer_km", "updated_at"]
        ro.odometer_km = odometer_km
        if concern is not None:
            ro.concern = concern.strip()
            update.append("concern")
        ro.save(update_fields=update)
        audit.record(
            subject=ro,
            action="intake_recorded",
            actor=actor,
            data={"vin_mismatch": mismatch, "odometer_km": odometer_km},
        )
        return intake


# --- estimate lines ------------------------------------------------------------------------
def _clean_parts(parts: Iterable[Mapping[str, Any]]) -> list[dict]:
    cleaned = []
    for i, raw in enumerate(parts):
        name = str(raw.get("name", "")).strip()
        if not name:
            raise ApplicationError(
                _("Name the part."), fields={f"parts[{i}].name": _("Name the part.")}
            )
        qty = _decimal(raw.get("quantity", 1), f"parts[{i}].quantity", minimum=Decimal("0.01"))
        price = _decimal(raw.get("unit_price", 0), f"parts[{i}].unit_price")
        stock = raw.get("stock_status") or PartLine.Stock.IN_STOCK
        if stock not in PartLine.Stock.values:
            raise ApplicationError(
                _("Unknown stock status."),
                fields={f"parts[{i}].stock_status": _("Unknown stock status.")},
            )
        cleaned.append(
            {
                "name": name[:120],
                "part_number": str(raw.get("part_number", "")).strip()[:40],
                "quantity": qty,
                "unit_price": money(price),
                "stock_status": stock,
                "expected_date": raw.get("expected_date") or None,
            }
        )
    return cleaned


def _job_create(
    ro: RepairOrder,
    *,
    description: str,
    standard_hours,
    operation_code: str = "",
    discount=0,
    parts: Iterable[Mapping[str, Any]] = (),
    approval: str,
    is_additional: bool,
) -> JobLine:
    description = (description or "").strip()
    if not description:
        raise ApplicationError(
            _("Describe the operation."), fields={"description": _("Describe the operation.")}
        )
    hours = _decimal(standard_hours, "standard_hours")
    disc = money(_decimal(discount or 0, "discount"))
    parts = _clean_parts(parts)
    labour = money(hours * ro.site.labour_rate)
    gross = labour + sum((money(p["quantity"] * p["unit_price"]) for p in parts), Decimal("0"))
    if disc > gross:
        msg = _("The discount cannot be more than the line.")
        raise ApplicationError(msg, fields={"discount": msg})
    position = (ro.lines.order_by("-position").values_list("position", flat=True).first() or 0) + 1
    job = JobLine.objects.create(
        repair_order=ro,
        position=position,
        operation_code=(operation_code or "").strip()[:30],
        description=description[:200],
        standard_hours=hours,
        labour_rate=ro.site.labour_rate,
        labour_amount=labour,
        discount=disc,
        approval=approval,
        is_additional=is_additional,
    )
    for p in parts:
        PartLine.objects.create(job=job, **p)
    return job


def job_line_add(
    *,
    repair_order_id,
    actor,
    description: str,
    standard_hours,
    operation_code: str = "",
    discount=0,
    parts: Iterable[Mapping[str, Any]] = (),
) -> JobLine:
    """Add a line to the estimate. Before authorization it joins the estimate; afterwards it is
    proposed additional work that needs the customer's answer."""
    with transaction.atomic():
        ro = _lock_ro(repair_order_id, actor, ADVISOR)
        if ro.status not in EDITABLE:
            raise _conflict(ro, _("add a line"))
        draft = ro.status == S.DRAFT
        job = _job_create(
            ro,
            description=description,
            standard_hours=standard_hours,
            operation_code=operation_code,
            discount=discount,
            parts=parts,
            approval=JobLine.Approval.AUTHORIZED if draft else JobLine.Approval.PROPOSED,
            is_additional=not draft,
        )
        _estimate_changed(ro)
        _recalc(ro)
        audit.record(
            subject=ro,
            action="line_added",
            actor=actor,
            data={"job": job.pk, "description": job.description, "amount": str(job.amount)},
        )
        return job


def job_propose_additional(
    *,
    repair_order_id,
    actor,
    description: str,
    standard_hours,
    parts: Iterable[Mapping[str, Any]] = (),
    photos: Iterable[Any] = (),
    operation_code: str = "",
) -> JobLine:
    """A finding during the repair becomes a proposed line (with price and photos), and the RO
    goes to `waiting_approval` right away. Only after the customer's answer can it be worked."""
    with transaction.atomic():
        ro = _lock_ro(repair_order_id, actor, WORKSHOP)
        sources = {S.AUTHORIZED, S.IN_PROGRESS, S.WAITING_PARTS, S.WAITING_APPROVAL}
        if ro.status not in sources:
            raise _conflict(ro, _("propose additional work"))
        job = _job_create(
            ro,
            description=description,
            standard_hours=standard_hours,
            operation_code=operation_code,
            parts=parts,
            approval=JobLine.Approval.PROPOSED,
            is_additional=True,
        )
        for upload in photos:
            _save_photo(ro, upload, actor=actor, field="photos", job=job)
        _estimate_changed(ro)
        audit.record(
            subject=ro,
            action="additional_proposed",
            actor=actor,
            data={"job": job.pk, "description": job.description, "amount": str(job.amount)},
        )
        if ro.status != S.WAITING_APPROVAL:
            paused_from = S.AUTHORIZED if ro.status == S.AUTHORIZED else S.IN_PROGRESS
            _transition(
                ro,
                to=S.WAITING_APPROVAL,
                sources=sources,
                action="request-approval",
                actor=actor,
                note=job.description,
                extra={"paused_from": paused_from},
            )
        return job


PRICE_FIELDS = ("standard_hours", "discount")


def job_line_update(
    *,
    job_id,
    actor,
    description: str | None = None,
    standard_hours=None,
    discount=None,
    operation_code: str | None = None,
) -> JobLine:
    """Change a line. After authorization a changed price puts the line back to `proposed`:
    the customer must answer again."""
    with transaction.atomic():
        ro_id = JobLine.objects.filter(pk=job_id).values_list("repair_order_id", flat=True).first()
        if ro_id is None:
            raise NotFoundError(_("No such line."))
        ro = _lock_ro(ro_id, actor, ADVISOR)
        job = ro.lines.select_for_update().get(pk=job_id)
        if ro.status not in EDITABLE:
            raise _conflict(ro, _("change a line"))
        if job.work_status == JobLine.WorkStatus.DONE:
            raise ConflictError(_("This line is done; it can no longer be changed."))
        before = job.amount
        if description is not None:
            if not description.strip():
                raise ApplicationError(
                    _("Describe the operation."),
                    fields={"description": _("Describe the operation.")},
                )
            job.description = description.strip()[:200]
        if operation_code is not None:
            job.operation_code = operation_code.strip()[:30]
        if standard_hours is not None:
            job.standard_hours = _decimal(standard_hours, "standard_hours")
            job.labour_amount = money(job.standard_hours * job.labour_rate)
        if discount is not None:
            job.discount = money(_decimal(discount, "discount"))
        if job.discount > job.labour_amount + job.parts_amount:
            msg = _("The discount cannot be more than the line.")
            raise ApplicationError(msg, fields={"discount": msg})
        job.save()
        _after_line_change(ro, job, actor=actor, before=before)
        return job


def _after_line_change(ro: RepairOrder, job: JobLine, *, actor, before: Decimal) -> None:
    after = job.amount
    if after != before:
        _estimate_changed(ro)
        if ro.status != S.DRAFT and job.approval != JobLine.Approval.DECLINED:
            job.approval = JobLine.Approval.PROPOSED
            job.save(update_fields=["approval"])
    _recalc(ro)
    audit.record(
        subject=ro,
        action="line_changed",
        actor=actor,
        data={"job": job.pk, "before": str(before), "after": str(after)},
    )


def part_line_add(*, job_id, actor, **part: Any) -> PartLine:
    with transaction.atomic():
        ro_id = JobLine.objects.filter(pk=job_id).values_list("repair_order_id", flat=True).first()
        if ro_id is None:
            raise NotFoundError(_("No such line."))
        ro = _lock_ro(ro_id, actor, ADVISOR)
        if ro.status not in EDITABLE:
            raise _conflict(ro, _("change a line"))
        job = ro.lines.get(pk=job_id)
        before = job.amount
        (cleaned,) = _clean_parts([part])
        created = PartLine.objects.create(job=job, **cleaned)
        job = ro.lines.prefetch_related("parts").get(pk=job_id)
        _after_line_change(ro, job, actor=actor, before=before)
        return created


def part_line_remove(*, part_id, actor) -> None:
    with transaction.atomic():
        part = PartLine.objects.select_related("job").filter(pk=part_id).first()
        if part is None:
            raise NotFoundError(_("No such part."))
        ro = _lock_ro(part.job.repair_order_id, actor, ADVISOR)
        if ro.status not in EDITABLE:
            raise _conflict(ro, _("change a line"))
        job = ro.lines.get(pk=part.job_id)
        before = job.amount
        part.delete()
        job = ro.lines.prefetch_related("parts").get(pk=job.pk)
        _after_line_change(ro, job, actor=actor, before=before)


def job_line_remove(*, job_id, actor) -> None:
    """Remove a line from a draft estimate, or withdraw a proposed line nobody has worked on."""
    with transaction.atomic():
        ro_id = JobLine.objects.filter(pk=job_id).values_list("repair_order_id", flat=True).first()
        if ro_id is None:
            raise NotFoundError(_("No such line."))
        ro = _lock_ro(ro_id, actor, ADVISOR)
        job = ro.lines.get(pk=job_id)
        if not (
            ro.status == S.DRAFT
            or (
                ro.status in EDITABLE
                and job.approval == JobLine.Approval.PROPOSED
                and job.approved_version is None
                and job.work_status == JobLine.WorkStatus.PENDING
            )
        ):
            raise ConflictError(
                _("Only lines of a draft, or proposed lines not yet agreed, can be removed.")
            )
        description = job.description
        job.delete()
        _estimate_changed(ro)
        _recalc(ro)
        audit.record(
            subject=ro, action="line_removed", actor=actor, data={"description": description}
        )


def ro_update_estimate(
    *, repair_order_id, actor, not_to_exceed=None, promised_at: datetime | None = None
) -> RepairOrder:
    """Set the not-to-exceed amount and the promised delivery time on the estimate."""
    with transaction.atomic():
        ro = _lock_ro(repair_order_id, actor, ADVISOR)
        if ro.status not in EDITABLE:
            raise _conflict(ro, _("change the estimate"))
        update = ["updated_at"]
        if not_to_exceed is not None:
            nte = money(_decimal(not_to_exceed, "not_to_exceed"))
            if ro.status != S.DRAFT and ro.not_to_exceed is not None and nte != ro.not_to_exceed:
                raise ConflictError(
                    _(
                        "The customer authorized the not-to-exceed amount; record their "
                        "consent to a higher total instead."
                    ),
                    fields={"not_to_exceed": _("Already authorized.")},
                )
            ro.not_to_exceed = nte
            update.append("not_to_exceed")
        if promised_at is not None:
            if promised_at <= timezone.now():
                msg = _("The promised time must be in the future.")
                raise ApplicationError(msg, fields={"promised_at": msg})
            _check_promise_horizon(promised_at)
            ro.promised_at = promised_at
            update.append("promised_at")
            if ro.status == S.DRAFT:
                ro.first_promised_at = promised_at
                update.append("first_promised_at")
        ro.save(update_fields=update)
        _estimate_changed(ro)
        audit.record(
            subject=ro,
            action="estimate_changed",
            actor=actor,
            data={
                "not_to_exceed": str(ro.not_to_exceed) if ro.not_to_exceed is not None else None,
                "promised_at": ro.promised_at.isoformat() if ro.promised_at else None,
            },
        )
        return ro


# --- authorization -------------------------------------------------------------------------
def _decode_signature(signature) -> bytes:
    if isinstance(signature, bytes):
        data = signature
    else:
        text = str(signature)
        if text.startswith("data:"):
            text = text.split(",", 1)[-1]
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            data = b""
    if not data.startswith(b"\x89PNG\r\n\x1a\n") or len(data) > MAX_PHOTO_BYTES:
        msg = _("The signature must be a PNG image drawn on the pad.")
        raise ApplicationError(msg, fields={"signature": msg})
    return data


def _check_channel(channel: str) -> None:
    if channel not in ApprovalChannel.values:
        msg = _("Choose how the customer answered.")
        raise ApplicationError(msg, fields={"channel": msg})


def ro_authorize(
    *,
    repair_order_id,
    actor,
    channel: str,
    customer_name: str = "",
    signature=None,
    not_to_exceed=None,
    promised_at: datetime | None = None,
    note: str = "",
) -> RepairOrder:
    """The customer authorizes the RO: a signature drawn on screen (PNG) or a recorded
    verbal/remote approval (who, channel, time). Nothing is dispatched before this."""
    _check_channel(channel)
    with transaction.atomic():
        ro = _lock_ro(repair_order_id, actor, ADVISOR)
        if ro.status == S.AUTHORIZED:
            return ro
        if ro.status != S.DRAFT:
            raise _conflict(ro, "authorize")
        errors: dict[str, list[str]] = {}
        lines = list(ro.lines.prefetch_related("parts"))
        intake = Intake.objects.filter(repair_order=ro).first()
        if not lines:
            errors["lines"] = [_("Add at least one job line to the estimate.")]
        if intake is None or intake.recorded_at is None:
            errors["intake"] = [_("Record the walk-around (intake) first.")]
        else:
            if not intake.covers_fitted:
                errors["intake"] = [_("Fit the seat and steering-wheel covers first.")]
            if intake.vin_mismatch and not intake.vin_mismatch_acknowledged:
                errors["intake"] = [_("Acknowledge the VIN mismatch first.")]
            if ro.is_first_service and not intake.underbody_checked:
                errors["intake"] = [_("A first service needs the underbody check first.")]
        promised = promised_at or ro.promised_at
        if promised is None:
            errors["promised_at"] = [_("Set the promised delivery time.")]
        elif promised_at is not None and promised_at <= timezone.now():
            errors["promised_at"] = [_("The promised time must be in the future.")]
        elif promised_at is not None and promised_at > timezone.now() + PROMISE_HORIZON:
            errors["promised_at"] = [_("The promised time must be within a year.")]
        totals = lines_totals(lines, tax_rate=ro.site.tax_rate)
        nte = ro.not_to_exceed
        if not_to_exceed is not None:
            nte = money(_decimal(not_to_exceed, "not_to_exceed"))
        if nte is None:
            nte = totals["grand_total"]
        if nte < totals["grand_total"]:
            errors["not_to_exceed"] = [
                _("The not-to-exceed amount is below the estimate total (%(total)s).")
                % {"total": totals["grand_total"]}
            ]
        customer_name = (customer_name or "").strip() or ro.customer.name
        png = None
        if channel == ApprovalChannel.SIGNATURE:
            if not signature:
                errors["signature"] = [_("Ask the customer to sign on the screen.")]
            else:
                png = _decode_signature(signature)
        elif channel == ApprovalChannel.LINK:
            errors["channel"] = [_("The private link is for additional work only.")]
        if errors:
            raise ApplicationError(next(iter(errors.values()))[0], fields=errors)

        ro.not_to_exceed = nte
        ro.promised_at = promised
        version = _freeze_estimate(ro, actor)
        now = timezone.now()
        approval = Approval(
            repair_order=ro,
            kind=Approval.Kind.AUTHORIZATION,
            estimate_version=version.version,
            customer_name=customer_name[:120],
            channel=channel,
            answered_at=now,
            approved_amount=nte,
            recorded_by=actor if getattr(actor, "is_authenticated", False) else None,
            note=(note or "")[:300],
        )
        if png is not None:
            approval.signature.save("signature.png", ContentFile(png), False)
        approval.save()
        for line in lines:
            line.approval = JobLine.Approval.AUTHORIZED
            line.approved_version = version.version
            line.approved_amount = line.amount
            line.save(update_fields=["approval", "approved_version", "approved_amount"])
            ApprovalLine.objects.create(
                approval=approval,
                job=line,
                decision=ApprovalLine.Decision.APPROVED,
                amount=line.amount,
            )
        _recalc(ro)
        _transition(
            ro,
            to=S.AUTHORIZED,
            sources={S.DRAFT},
            action="authorize",
            actor=actor,
            note=note,
            data={"channel": channel, "customer": customer_name, "version": version.version},
            extra={
                "authorized_at": now,
                "not_to_exceed": nte,
                "promised_at": promised,
                "first_promised_at": ro.first_promised_at or promised,
            },
        )
        return ro


# --- work ----------------------------------------------------------------------------------
def _rework_needs_delay_notice(ro: RepairOrder, now: datetime) -> bool:
    if ro.promised_at is None or ro.promised_at - now >= REWORK_MARGIN:
        return False
    told = ro.delay_notified_at
    return not (told and (ro.qc_failed_at is None or told >= ro.qc_failed_at))


def ro_start(*, repair_order_id, actor, note: str = "") -> RepairOrder:
    """The first job is clocked on (authorized → in_progress) or rework begins (rework →
    in_progress). After a QC failure that threatens the promised time, the customer must have
    been told and a new promised time set first."""
    with transaction.atomic():
        ro = _lock_ro(repair_order_id, actor, WORKSHOP)
        if ro.status == S.REWORK and _rework_needs_delay_notice(ro, timezone.now()):
            msg = _(
                "The promised time can no longer be met: tell the customer and set a new "
                "promised time before the rework starts."
            )
            raise ConflictError(msg, fields={"promised_at": msg}, extra={"state": ro.status})
        _transition(
            ro,
            to=S.IN_PROGRESS,
            sources={S.AUTHORIZED, S.REWORK},
            action="start",
            actor=actor,
            note=note,
        )
        return ro


def approval_link_create(*, repair_order_id, actor, days: int = APPROVAL_LINK_DAYS) -> ApprovalLink:
    """A private link for the current estimate version; an unexpired unanswered one is reused."""
    with transaction.atomic():
        ro = _lock_ro(repair_order_id, actor, ADVISOR)
        return _link_for(ro, actor, days=days)


def _link_for(ro: RepairOrder, actor, *, days: int = APPROVAL_LINK_DAYS) -> ApprovalLink:
    now = timezone.now()
    _freeze_estimate(ro, actor)
    link = ro.approval_links.filter(
        estimate_version=ro.estimate_version, answered_at=None, expires_at__gt=now
    ).first()
    if link:
        return link
    link = ApprovalLink.objects.create(
        repair_order=ro,
        token=secrets.token_urlsafe(32),
        estimate_version=ro.estimate_version,
        expires_at=now + timedelta(days=days),
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    audit.record(
        subject=ro,
        action="approval_link_created",
        actor=actor,
        data={"version": ro.estimate_version, "expires_at": link.expires_at.isoformat()},
    )
    return link


def ro_request_approval(*, repair_order_id, actor, note: str = "") -> RepairOrder:
    """Ask the customer about the proposed lines: freezes the estimate version and makes the
    private link (`ro.approval_links.first()`)."""
    with transaction.atomic():
        ro = _lock_ro(repair_order_id, actor, ADVISOR)
        sources = {S.AUTHORIZED, S.IN_PROGRESS, S.WAITING_PARTS}
        if ro.status not in sources | {S.WAITING_APPROVAL}:
            raise _conflict(ro, "request-approval")
        if not ro.lines.filter(approval=JobLine.Approval.PROPOSED).exists():
            msg = _("There is no proposed line to ask the customer about.")
            raise ConflictError(msg, fields={"lines": msg})
        paused_from = ro.paused_from or (
            S.AUTHORIZED if ro.status == S.AUTHORIZED else S.IN_PROGRESS
        )
        _transition(
            ro,
            to=S.WAITING_APPROVAL,
            sources=sources,
            action="request-approval",
            actor=actor,
            note=note,
            extra={"paused_from": paused_from},
        )
        _link_for(ro, actor)
        signals.approval_requested.send(sender=RepairOrder, repair_order=ro)
        return ro


def _answer(
    ro: RepairOrder,
    *,
    actor,
    customer_name: str,
    channel: str,
    answers: Iterable[Mapping[str, Any]],
    estimate_version: int | None,
    note: str = "",
    link: ApprovalLink | None = None,
) -> Approval:
    _check_channel(channel)
    if ro.status not in EDITABLE:
        raise _conflict(ro, "answer-approval")
    if estimate_version is not None and int(estimate_version) != ro.estimate_version:
        raise ConflictError(
            _(
                "The estimate changed after version %(old)s (now version %(new)s): the "
                "customer must answer the new version."
            )
            % {"old": estimate_version, "new": ro.estimate_version},
            fields={"estimate_version": _("Out of date.")},
            extra={"estimate_version": ro.estimate_version},
        )
    proposed = {
        line.pk: line
        for line in ro.lines.filter(approval=JobLine.Approval.PROPOSED).prefetch_related("parts")
    }
    if not proposed:
        raise ConflictError(
            _("Nothing on this repair order is waiting for the customer's answer."),
            extra={"state": ro.status, "actions": allowed_actions(ro.status)},
        )
    answers = list(answers)
    if not answers:
        msg = _("Answer at least one line.")
        raise ApplicationError(msg, fields={"answers": msg})
    errors: dict[str, list[str]] = {}
    decided: list[tuple[JobLine, str, str]] = []
    seen = set()
    for i, answer in enumerate(answers):
        try:
            job_id = int(answer.get("job_id") or answer.get("job"))
        except (TypeError, ValueError):
            errors[f"answers[{i}].job_id"] = [_("Choose a line.")]
            continue
        decision = answer.get("decision")
        if job_id not in proposed or job_id in seen:
            errors[f"answers[{i}].job_id"] = [_("This line is not waiting for an answer.")]
            continue
        if decision not in ApprovalLine.Decision.values:
            errors[f"answers[{i}].decision"] = [_("Approve or decline.")]
            continue
        seen.add(job_id)
        decided.append((proposed[job_id], decision, str(answer.get("reason") or "").strip()))
    if errors:
        raise ApplicationError(next(iter(errors.values()))[0], fields=errors)
    customer_name = (customer_name or "").strip() or ro.customer.name
    version = _freeze_estimate(ro, actor)
    now = timezone.now()
    approval = Approval.objects.create(
        repair_order=ro,
        kind=Approval.Kind.ADDITIONAL,
        estimate_version=version.version,
        customer_name=customer_name[:120],
        channel=channel,
        answered_at=now,
        recorded_by=actor if getattr(actor, "is_authenticated", False) else None,
        note=(note or "")[:300],
    )
    for job, decision, reason in decided:
        ApprovalLine.objects.create(
            approval=approval, job=job, decision=decision, amount=job.amount, reason=reason[:200]
        )
        if decision == ApprovalLine.Decision.APPROVED:
            job.approval = JobLine.Approval.APPROVED
            job.approved_version = version.version
            job.approved_amount = job.amount
            job.declined_reason = ""
        else:
            job.approval = JobLine.Approval.DECLINED
            job.declined_reason = reason[:200] or _("Declined by the customer")
        job.save(
            update_fields=["approval", "approved_version", "approved_amount", "declined_reason"]
        )
    _recalc(ro)
    # the customer agreed to the total of everything approved so far
    approval.approved_amount = max(ro.grand_total, ro.not_to_exceed or Decimal("0"))
    approval.save(update_fields=["approved_amount"])
    if link is not None:
        link.answered_at = now
        link.approval = approval
        link.save(update_fields=["answered_at", "approval"])
    audit.record(
        subject=ro,
        action="approval_answered",
        actor=actor,
        data={
            "channel": channel,
            "customer": customer_name,
            "version": version.version,
            "answers": {str(j.pk): d for j, d, _r in decided},
        },
    )
    if (
        ro.status == S.WAITING_APPROVAL
        and not ro.lines.filter(approval=JobLine.Approval.PROPOSED).exists()
    ):
        back = ro.paused_from or S.IN_PROGRESS
        _transition(
            ro,
            to=back,
            sources={S.WAITING_APPROVAL},
            action="answer-approval",
            actor=actor,
            note=_("Answered by %(name)s") % {"name": customer_name},
            extra={"paused_from": ""},
        )
    return approval


def ro_answer_approval(
    *,
    repair_order_id,
    actor,
    channel: str,
    answers: Iterable[Mapping[str, Any]],
    customer_name: str = "",
    estimate_version: int | None = None,
    note: str = "",
) -> Approval:
    """Record the customer's answer per proposed line, given by phone (etc.) to the advisor.
    When no proposed line is left, the RO goes back to where it paused."""
    with transaction.atomic():
        ro = _lock_ro(repair_order_id, actor, ADVISOR)
        return _answer(
            ro,
            actor=actor,
            customer_name=customer_name,
            channel=channel,
            answers=answers,
            estimate_version=estimate_version,
            note=note,
        )


def approval_link_get(*, token: str) -> ApprovalLink:
    link = (
        ApprovalLink.objects.select_related("repair_order", "repair_order__site")
        .filter(token=token or "")
        .first()
    )
    if link is None or not secrets.compare_digest(link.token, token or ""):
        raise NotFoundError(_("This link is not valid."))
    return link


def approval_link_answer(
    *, token: str, answers: Iterable[Mapping[str, Any]], customer_name: str = ""
) -> Approval:
    """The customer answers from the private link (no login). Refused when the link expired,
    was answered already, or the estimate changed since it was sent."""
    link = approval_link_get(token=token)
    with transaction.atomic():
        ro = lock(RepairOrder, link.repair_order_id)
        link = ApprovalLink.objects.select_for_update().get(pk=link.pk)
        if link.answered_at is not None:
            raise ConflictError(_("This link has already been answered. Thank you!"))
        if link.expires_at <= timezone.now():
            raise ConflictError(
                _("This link has expired. Please call your service advisor."),
                extra={"expired": True},
            )
        return _answer(
            ro,
            actor=None,
            customer_name=customer_name,
            channel=ApprovalChannel.LINK,
            answers=answers,
            estimate_version=link.estimate_version,
            link=link,
        )


def approval_answer_by_customer(
    *,
    repair_order_id,
    answers: Iterable[Mapping[str, Any]],
    estimate_version: int,
    customer_name: str = "",
    via: str = "",
) -> Approval:
    """The customer answers the proposed lines from their own page (no login): the same rules
    as an answer given to the advisor, by the private-link channel, on the version they saw.
    `via` names the page or link it came through (kept on the answer's note)."""
    with transaction.atomic():
        try:
            ro = lock(RepairOrder, repair_order_id)
        except (RepairOrder.DoesNotExist, ValueError, TypeError):
            raise NotFoundError(_("No such repair order.")) from None
        return _answer(
            ro,
            actor=None,
            customer_name=customer_name,
            channel=ApprovalChannel.LINK,
            answers=answers,
            estimate_version=estimate_version,
            note=via,
        )


def ro_wait_parts(
    *, repair_order_id, actor, part: str, expected_date: date | None = None, note: str = ""
) -> RepairOrder:
    """Work stops for a part: visible with the part and the expected date."""
    part = (part or "").strip()
    if not part:
        msg = _("Name the part the car is waiting for.")
        raise ApplicationError(msg, fields={"part": msg})
    with transaction.atomic():
        ro = _lock_ro(repair_order_id, actor, (*WORKSHOP, Role.PARTS_CLERK))
        _transition(
            ro,
            to=S.WAITING_PARTS,
            sources={S.AUTHORIZED, S.IN_PROGRESS},
            action="wait-parts",
            actor=actor,
            note=note or part,
            data={
                "part": part,
                "expected_date": expected_date.isoformat() if expected_date else None,
            },
            extra={
                "paused_from": ro.status,
                "waiting_part": part[:120],
                "parts_expected_date": expected_date,
            },
        )
        return ro


def ro_resume(*, repair_order_id, actor, note: str = "") -> RepairOrder:
    """Back to work after waiting for parts or approval (approved lines only may be worked)."""
    with transaction.atomic():
        ro = _lock_ro(repair_order_id, actor, (*WORKSHOP, Role.PARTS_CLERK))
        if ro.status in (S.IN_PROGRESS, S.AUTHORIZED) and not ro.paused_from:
            return ro
        back = ro.paused_from or S.IN_PROGRESS
        _transition(
            ro,
            to=back,
            sources={S.WAITING_PARTS, S.WAITING_APPROVAL},
            action="resume",
            actor=actor,
            note=note,
            extra={"paused_from": "", "waiting_part": "", "parts_expected_date": None},
        )
        return ro


def ro_complete_work(*, repair_order_id, actor, note: str = "") -> RepairOrder:
    """All agreed lines are done and signed: hand over to QC."""
    with transaction.atomic():
        ro = _lock_ro(repair_order_id, actor, WORKSHOP)
        if ro.status == S.WORK_DONE:
            return ro
        if ro.status != S.IN_PROGRESS:
            raise _conflict(ro, "complete-work")
        lines = list(ro.lines.all())
        pending = [line for line in lines if line.approval == JobLine.Approval.PROPOSED]
        if pending:
            msg = _("The customer has not answered on: %(lines)s.") % {
                "lines": ", ".join(line.description for line in pending)
            }
            raise ConflictError(msg, fields={"lines": msg})
        open_lines = [
            line
            for line in lines
            if line.is_workable and line.work_status != JobLine.WorkStatus.DONE
        ]
        if open_lines:
            msg = _("Not done yet: %(lines)s.") % {
                "lines": ", ".join(line.description for line in open_lines)
            }
            raise ConflictError(msg, fields={"lines": msg})
        _transition(
            ro,
            to=S.WORK_DONE,
            sources={S.IN_PROGRESS},
            action="complete-work",
            actor=actor,
            note=note,
            extra={"work_done_at": timezone.now()},
        )
        return ro


# --- quality check -------------------------------------------------------------------------
def ro_qc_start(*, repair_order_id, actor) -> RepairOrder:
    """The QC inspector takes the car for the road test (work_done → qc)."""
    with transaction.atomic():
        ro = _lock_ro(repair_order_id, actor, QC)
        _transition(ro, to=S.QC, sources={S.WORK_DONE}, action="qc-start", actor=actor)
        return ro


def _clean_checklist(checklist, items: Mapping[str, Any], field: str) -> dict[str, bool]:
    if not isinstance(checklist, Mapping):
        msg = _("Tick the checklist.")
        raise ApplicationError(msg, fields={field: msg})
    return {key: bool(checklist.get(key)) for key in items}


def ro_qc_pass(*, repair_order_id, actor, checklist: dict, note: str = "") -> RepairOrder:
    """Road test and final inspection passed: every item must be ticked. → washing."""
    cleaned = _clean_checklist(checklist, QC_ITEMS, "checklist")
    missing = [str(QC_ITEMS[k]) for k, ok in cleaned.items() if not ok]
    if missing:
        msg = _("Not ticked: %(items)s. Fail the QC instead if something is wrong.") % {
            "items": ", ".join(missing)
        }
        raise ApplicationError(msg, fields={"checklist": msg})
    with transaction.atomic():
        ro = _lock_ro(repair_order_id, actor, QC)
        if ro.status == S.WASHING:
            return ro
        if ro.status not in (S.WORK_DONE, S.QC):
            raise _conflict(ro, "qc-pass")
        if ro.status == S.WORK_DONE:
            _transition(ro, to=S.QC, sources={S.WORK_DONE}, action="qc-start", actor=actor)
        _transition(
            ro,
            to=S.WASHING,
            sources={S.QC},
            action="qc-pass",
            actor=actor,
            note=note,
            data={"checklist": cleaned},
            extra={"qc_passed_at": timezone.now(), "qc_checklist": cleaned},
        )
        return ro


def ro_qc_fail(
    *,
    repair_order_id,
    actor,
    reason: str,
    checklist: dict | None = None,
) -> RepairOrder:
    """QC failed: back to the workshop as rework, with the reason; each failure is counted."""
    reason = (reason or "").strip()
    if not reason:
        msg = _("Say what failed.")
        raise ApplicationError(msg, fields={"reason": msg})
    cleaned = _clean_checklist(checklist or {}, QC_ITEMS, "checklist") if checklist else {}
    with transaction.atomic():
        ro = _lock_ro(repair_order_id, actor, QC)
        if ro.status == S.REWORK:
            return ro
        if ro.status not in (S.WORK_DONE, S.QC):
            raise _conflict(ro, "qc-fail")
        if ro.status == S.WORK_DONE:
            _transition(ro, to=S.QC, sources={S.WORK_DONE}, action="qc-start", actor=actor)
        _transition(
            ro,
            to=S.REWORK,
            sources={S.QC},
            action="qc-fail",
            actor=actor,
            note=reason,
            data={"checklist": cleaned, "count": ro.qc_fail_count + 1},
            extra={
                "qc_fail_count": ro.qc_fail_count + 1,
                "qc_fail_reason": reason[:300],
                "qc_failed_at": timezone.now(),
                "qc_checklist": cleaned,
                "delay_notified_at": None,
            },
        )
        return ro


def ro_record_delay(
    *, repair_order_id, actor, promised_at: datetime, channel: str = "phone", note: str = ""
) -> RepairOrder:
    """The customer was told the car will be late, and the new promised time."""
    _check_channel(channel)
    if promised_at is None or promised_at <= timezone.now():
        msg = _("The new promised time must be in the future.")
        raise ApplicationError(msg, fields={"promised_at": msg})
    _check_promise_horizon(promised_at)
    with transaction.atomic():
        ro = _lock_ro(repair_order_id, actor, ADVISOR)
        if ro.status in (S.READY, S.INVOICED, S.DELIVERED, S.CANCELLED):
            raise _conflict(ro, _("record a delay"))
        old = ro.promised_at
        ro.promised_at = promised_at
        ro.delay_notified_at = timezone.now()
        ro.save(update_fields=["promised_at", "delay_notified_at", "updated_at"])
        audit.record(
            subject=ro,
            action="delay_notified",
            actor=actor,
            note=note,
            data={
                "channel": channel,
                "from": old.isoformat() if old else None,
                "to": promised_at.isoformat(),
            },
        )
        return ro


def ro_wash_done(*, repair_order_id, actor) -> RepairOrder:
    with transaction.atomic():
        ro = _lock_ro(repair_order_id, actor, WORKSHOP)
        if ro.status != S.WASHING:
            raise _conflict(ro, "wash-done")
        if ro.washed_at is None:
            ro.washed_at = timezone.now()
            ro.save(update_fields=["washed_at", "updated_at"])
            audit.record(subject=ro, action="wash-done", actor=actor)
        return ro


def ro_final_check(*, repair_order_id, actor, checklist: dict, note: str = "") -> RepairOrder:
    """The advisor's final check after the wash (every line done, car clean) → ready."""
    cleaned = _clean_checklist(checklist, FINAL_CHECK_ITEMS, "checklist")
    missing = [str(FINAL_CHECK_ITEMS[k]) for k, ok in cleaned.items() if not ok]
    if missing:
        msg = _("Not ticked: %(items)s.") % {"items": ", ".join(missing)}
        raise ApplicationError(msg, fields={"checklist": msg})
    with transaction.atomic():
        ro = _lock_ro(repair_order_id, actor, ADVISOR)
        if ro.status == S.READY:
            return ro
        if ro.status != S.WASHING:
            raise _conflict(ro, "final-check")
        if ro.washed_at is None:
            msg = _("The car has not been washed yet.")
            raise ConflictError(msg, fields={"wash": msg})
        undone = [
            line.description
            for line in ro.lines.all()
            if line.is_workable and line.work_status != JobLine.WorkStatus.DONE
        ]
        if undone:
            msg = _("Not done yet: %(lines)s.") % {"lines": ", ".join(undone)}
            raise ConflictError(msg, fields={"lines": msg})
        _transition(
            ro,
            to=S.READY,
            sources={S.WASHING},
            action="final-check",
            actor=actor,
            note=note,
            extra={"final_check": cleaned, "ready_at": timezone.now()},
        )
        return ro


# --- settlement and delivery ---------------------------------------------------------------
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
        return ro


# --- messages to the customer from the RO page -------------------------------------------------
RO_MESSAGE_KINDS = ("additional_work", "delay_notice", "car_ready")


def ro_message_send(*, repair_order_id, actor, kind: str):
    """One click on the RO page: the approval link, the delay notice (with the promised time) or
    the ready notice, through the customer's preferred allowed channel. The same notice for the
    same estimate version / promised time is sent once; the message and its delivery state show
    on the RO (and the send in its history)."""
    from django.conf import settings
    from django.urls import reverse

    from messaging.models import OutboundMessage
    from messaging.services import message_send

    if kind not in RO_MESSAGE_KINDS:
        raise ApplicationError(_("Unknown message."), fields={"kind": _("Choose a message.")})
    with transaction.atomic():
        ro = _lock_ro(repair_order_id, actor, ADVISOR)
        context = {"plate": ro.vehicle.plate or ro.vehicle.vin}
        if kind == "additional_work":
            if not ro.lines.filter(approval=JobLine.Approval.PROPOSED).exists():
                raise ApplicationError(_("There is no proposed line to ask the customer about."))
            link = _link_for(ro, actor)
            context["link"] = settings.DMS_PUBLIC_BASE_URL.rstrip("/") + reverse(
                "workorders:approval_link", kwargs={"token": link.token}
            )
            key = f"ro:{ro.pk}:additional_work:v{ro.estimate_version}"
        elif kind == "delay_notice":
            if ro.promised_at is None:
                raise ApplicationError(_("Set the new promised time first."))
            local = timezone.localtime(ro.promised_at, ro.site.tzinfo)
            context["promised"] = local.strftime("%m-%d %H:%M")
            key = f"ro:{ro.pk}:delay_notice:{local.strftime('%Y%m%d%H%M')}"
        else:
            if ro.status not in (S.READY, S.INVOICED):
                raise _conflict(ro, _("tell the customer the car is ready"))
            key = f"ro:{ro.pk}:car_ready"
        if OutboundMessage.objects.filter(site=ro.site, kind=kind, source_key=key).exists():
            raise ConflictError(
                _("This message was already sent; its delivery state is shown on the RO.")
            )
        message = message_send(
            site=ro.site, kind=kind, context=context, customer=ro.customer, source_key=key
        )
        audit.record(
            subject=ro,
            action="message_sent",
            actor=actor,
            note=f"{message.get_kind_display()} → {message.get_channel_display()} {message.to}",
            data={"message_id": message.pk, "kind": kind, "channel": message.channel},
        )
    return message


def ro_message_state_recorded(*, message) -> None:
    """A message sent for an RO (key "ro:<id>:…") was delivered or failed: the RO's history
    says so (the messaging layer tells through its signals)."""
    parts = (message.source_key or "").split(":")
    if len(parts) < 3 or parts[0] != "ro" or not parts[1].isdigit():
        return
    ro = RepairOrder.objects.filter(pk=int(parts[1]), site_id=message.site_id).first()
    if ro is None:
        return
    delivered = message.status == "delivered"
    audit.record(
        subject=ro,
        action="message_delivered" if delivered else "message_failed",
        note=f"{message.get_kind_display()} → {message.get_channel_display()} {message.to}"
        + ("" if delivered else f" ({message.error or message.error_code})"),
        data={"message_id": message.pk, "kind": message.kind, "status": message.status},
    )
