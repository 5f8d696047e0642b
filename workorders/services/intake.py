"""Step 1, open and intake: opening a repair order (at check-in, for a walk-in, a comeback) and
the intake record (VIN, odometer, fuel, damage, photos)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.services import vehicle_estimates_update
from dms import audit
from dms.exceptions import ApplicationError, ConflictError
from dms.models import Role, Site
from dms.permissions import has_role

from .. import signals
from ..models import (
    DAMAGE_PANELS,
    INTERIOR_CHECKS,
    FuelLevel,
    Intake,
    Photo,
    RepairOrder,
    RONumberSequence,
    Symptom,
)
from ..transitions import EDITABLE
from .common import ADVISOR, MAX_PHOTO_BYTES, S, _check_role, _conflict, _lock_ro


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
        vehicle_estimates_update(vehicle=vehicle)  # its odometer and first service count
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
        vehicle_estimates_update(vehicle=vehicle)
        audit.record(
            subject=ro,
            action="intake_recorded",
            actor=actor,
            data={"vin_mismatch": mismatch, "odometer_km": odometer_km},
        )
        return intake
