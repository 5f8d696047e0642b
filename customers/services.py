"""Writes to the customer and vehicle archive. Keyword-only; each runs its own transaction.

Bad input raises `ApplicationError` with per-field messages and saves nothing. A VIN whose check
digit does not add up raises `VinCheckDigitWarning` until the caller passes
`acknowledge_vin_warning=True` (the advisor ticked the box under the warning).
"""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from dms import audit, inputs
from dms.exceptions import ApplicationError
from dms.models import Role, Site
from dms.permissions import require_role

from . import service_due, validators
from .models import Customer, MileageReading, Vehicle, VehicleOwnership

CUSTOMER_FIELDS = (
    "kind",
    "name",
    "title",
    "phone",
    "phone2",
    "email",
    "address",
    "preferred_channel",
    "preferred_contact_time",
    "consent_call",
    "consent_sms",
    "consent_email",
    "consent_marketing",
    "quiet_hours_start",
    "quiet_hours_end",
    "birthday",
    "board_display",
    "notes",
)
CONSENTS = ("consent_call", "consent_sms", "consent_email", "consent_marketing")

# A vehicle's editable fields: the one list the desk, the API (VehicleInput) and the import
# (imports.VEHICLE_KEYS: those a file can hold) accept.
VEHICLE_FIELDS = (
    "vin",
    "plate",
    "engine_number",
    "make",
    "model",
    "year",
    "colour",
    "purchase_date",
    "sold_by_site",
    "warranty_end",
    "mileage_km",
    "mileage_read_at",
    "service_interval_km",
    "service_interval_months",
    "next_service_due_date",
    "next_service_due_km",
    "first_service_done",
    "insurance_renewal_date",
    "annual_inspection_date",
    "licence_review_date",
)


class VinCheckDigitWarning(ApplicationError):
    """The VIN is well-formed but its check digit (position 9) is wrong: ask the advisor."""

    def __init__(self, vin: str) -> None:
        expected = validators.vin_check_digit(vin)
        msg = _(
            "The check digit of VIN %(vin)s (9th character “%(got)s”) should be “%(expected)s”. "
            "Compare it with the car and the registration; tick the box to keep it as typed."
        ) % {"vin": vin, "got": vin[8], "expected": expected}
        super().__init__(
            msg,
            fields={"vin": msg},
            extra={"code": "vin_check_digit", "acknowledge_with": "acknowledge_vin_warning"},
        )


# --- helpers ---------------------------------------------------------------------------------
def _raise_validation(exc: ValidationError) -> None:
    fields = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    fields = {("non_field_errors" if k == "__all__" else k): v for k, v in fields.items()}
    first = next(iter(fields.values()))[0]
    raise ApplicationError(first, fields=fields) from exc


def _unknown(fields: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        msg = _("Unknown field(s): %(names)s.") % {"names": ", ".join(unknown)}
        raise ApplicationError(msg, fields={name: _("Unknown field.") for name in unknown})


def _collect(errors: dict[str, list[str]], exc: ApplicationError) -> None:
    for key, messages in (exc.fields or {"non_field_errors": [exc.message]}).items():
        errors.setdefault(key, []).extend(messages)


def _raise_collected(errors: dict[str, list[str]]) -> None:
    if errors:
        first = next(iter(errors.values()))[0]
        message = first if len(errors) == 1 else _("Please correct the highlighted fields.")
        raise ApplicationError(message, fields=errors)


def _owner_label(vehicle: Vehicle) -> str:
    return f"{vehicle.plate or vehicle.vin} ({vehicle.owner.name})"


# --- customers -------------------------------------------------------------------------------
def _clean_customer(fields: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    _unknown(fields, CUSTOMER_FIELDS)
    errors: dict[str, list[str]] = {}
    data = dict(fields)
    if "name" in data or creating:
        try:
            data["name"] = inputs.clean_name(
                data.get("name"), field="name", required=_("Enter the customer's name.")
            )
        except ApplicationError as exc:
            _collect(errors, exc)
    if isinstance(data.get("birthday"), date):
        try:
            inputs.check_day(data["birthday"], field="birthday", latest=timezone.localdate())
        except ApplicationError as exc:
            _collect(errors, exc)
    if "phone" in data or creating:
        try:
            data["phone"] = validators.normalize_phone(data.get("phone") or "")
        except ApplicationError as exc:
            if str(data.get("phone") or "").strip():
                _collect(errors, exc)
            else:
                errors["phone"] = [_("Enter a phone number so the customer can be reached.")]
    if data.get("phone2"):
        try:
            data["phone2"] = validators.normalize_phone(data["phone2"], field="phone2")
        except ApplicationError as exc:
            _collect(errors, exc)
    elif "phone2" in data:
        data["phone2"] = ""
    for key in ("email", "address", "preferred_contact_time", "notes", "title"):
        if key in data and data[key] is None:
            data[key] = ""
    if "email" in data:
        data["email"] = str(data["email"]).strip()
    _raise_collected(errors)
    return data


def _check_quiet_hours(customer: Customer) -> None:
    if (customer.quiet_hours_start is None) != (customer.quiet_hours_end is None):
        msg = _("Give both ends of the quiet hours, or neither.")
        field = "quiet_hours_end" if customer.quiet_hours_end is None else "quiet_hours_start"
        raise ApplicationError(msg, fields={field: msg})
    if customer.phone and customer.phone2 and customer.phone == customer.phone2:
        msg = _("The second phone is the same as the first.")
        raise ApplicationError(msg, fields={"phone2": msg})


def _apply_consent_stamps(customer: Customer, before: dict[str, bool] | None) -> list[str]:
    now = timezone.now()
    changed = []
    for key in CONSENTS:
        value = getattr(customer, key)
        if before is None or before.get(key) != value:
            setattr(customer, f"{key}_at", now)
            changed.append(key)
    return changed


def customer_create(*, site: Site, actor, **fields) -> Customer:
    """A new customer. Phones are stored in E.164; every consent gets its timestamp."""
    data = _clean_customer(fields, creating=True)
    customer = Customer(site=site, **data)
    _check_quiet_hours(customer)
    try:
        customer.full_clean(exclude=["site", "merged_into"])
    except ValidationError as exc:
        _raise_validation(exc)
    _apply_consent_stamps(customer, None)
    with transaction.atomic():
        customer.save()
        audit.record(subject=customer, action="customer_created", actor=actor, site=site)
    return customer


def customer_update(*, customer: Customer, actor, **fields) -> Customer:
    """Change a customer's details. A consent that changes gets a new timestamp at once."""
    data = _clean_customer(fields, creating=False)
    with transaction.atomic():
        customer = Customer.objects.select_for_update().get(pk=customer.pk)
        if customer.merged_into_id:
            raise ApplicationError(_("This customer was merged into another one; edit that one."))
        before = {key: getattr(customer, key) for key in CONSENTS}
        old = {key: getattr(customer, key) for key in data}
        for key, value in data.items():
            setattr(customer, key, value)
        _check_quiet_hours(customer)
        try:
            customer.full_clean(exclude=["site", "merged_into"])
        except ValidationError as exc:
            _raise_validation(exc)
        consents = _apply_consent_stamps(customer, before)
        changed = [k for k in data if old[k] != getattr(customer, k)]
        update = changed + [f"{k}_at" for k in consents] + ["updated_at"]
        customer.save(update_fields=sorted(set(update)))
        if changed:
            audit.record(
                subject=customer,
                action="customer_updated",
                actor=actor,
                data={"fields": sorted(changed), "consents": consents},
            )
    return customer


def customer_set_consent(*, customer: Customer, actor, channel: str, allowed: bool) -> Customer:
    """Record an opt-in or opt-out for one channel (call, sms, email, marketing) at once."""
    key = f"consent_{channel}"
    if key not in CONSENTS:
        raise ApplicationError(_("Unknown channel “%(c)s”.") % {"c": channel})
    return customer_update(customer=customer, actor=actor, **{key: bool(allowed)})


# --- vehicles --------------------------------------------------------------------------------
def _clean_vehicle(
    fields: dict[str, Any], *, site: Site, instance: Vehicle | None, acknowledge: bool
) -> dict[str, Any]:
    _unknown(fields, VEHICLE_FIELDS)
    errors: dict[str, list[str]] = {}
    data = dict(fields)
    vin_warning = None
    if "vin" in data or instance is None:
        try:
            data["vin"] = validators.normalize_vin(data.get("vin") or "")
        except ApplicationError as exc:
            _collect(errors, exc)
        else:
            ok = validators.vin_check_digit_ok(data["vin"])
            data["vin_check_digit_ok"] = ok
            same_as_before = instance is not None and instance.vin == data["vin"]
            if not ok and not acknowledge and not same_as_before:
                vin_warning = VinCheckDigitWarning(data["vin"])
            taken = (
                Vehicle.objects.filter(site=site, vin=data["vin"])
                .exclude(pk=getattr(instance, "pk", None))
                .select_related("owner")
                .first()
            )
            if taken:
                errors.setdefault("vin", []).append(
                    _("VIN %(vin)s is already on vehicle %(vehicle)s.")
                    % {"vin": data["vin"], "vehicle": _owner_label(taken)}
                )
    if "plate" in data:
        try:
            data["plate"] = validators.normalize_plate(data.get("plate") or "")
        except ApplicationError as exc:
            _collect(errors, exc)
        else:
            if data["plate"]:
                taken = (
                    Vehicle.objects.filter(site=site, plate=data["plate"])
                    .exclude(pk=getattr(instance, "pk", None))
                    .select_related("owner")
                    .first()
                )
                if taken:
                    errors.setdefault("plate", []).append(
                        _("Plate %(plate)s is already on vehicle %(vehicle)s.")
                        % {"plate": data["plate"], "vehicle": _owner_label(taken)}
                    )
    for key in ("engine_number", "make", "model", "colour"):
        if key in data:
            data[key] = " ".join(str(data[key] or "").split())
    if data.get("engine_number"):
        data["engine_number"] = data["engine_number"].upper()
    year = data.get("year")
    if year not in (None, ""):
        this_year = timezone.localdate().year
        try:
            year = int(year)
        except (TypeError, ValueError):
            year = -1
        if not 1950 <= year <= this_year + 1:
            errors.setdefault("year", []).append(
                _("Enter a model year between 1950 and %(max)d.") % {"max": this_year + 1}
            )
        data["year"] = year
    elif "year" in data:
        data["year"] = None
    if "mileage_km" in data and data["mileage_km"] in (None, ""):
        data["mileage_km"] = 0
    _raise_collected(errors)
    if vin_warning is not None:
        raise vin_warning
    return data


def _check_vehicle(vehicle: Vehicle) -> None:
    errors: dict[str, list[str]] = {}
    if (
        vehicle.purchase_date
        and vehicle.warranty_end
        and vehicle.warranty_end < vehicle.purchase_date
    ):
        errors["warranty_end"] = [_("The warranty cannot end before the purchase date.")]
    today = timezone.localdate()
    if vehicle.purchase_date and vehicle.purchase_date > today:
        errors["purchase_date"] = [_("The purchase date cannot be in the future.")]
    if vehicle.mileage_read_at and vehicle.mileage_read_at > today:
        errors["mileage_read_at"] = [_("A mileage cannot be read in the future.")]
    if vehicle.service_interval_km == 0 and vehicle.service_interval_months == 0:
        errors["service_interval_km"] = [_("Give a service interval in km or in months.")]
    _raise_collected(errors)
    try:
        vehicle.full_clean(exclude=["site", "owner", "vin_last6"], validate_constraints=False)
    except ValidationError as exc:
        _raise_validation(exc)


def _save_unique(vehicle: Vehicle, **kwargs) -> None:
    """Save; a concurrent duplicate VIN/plate loses with a field message, not a 500."""
    try:
        with transaction.atomic():
            vehicle.save(**kwargs)
    except IntegrityError as exc:
        text = str(exc)
        field = "plate" if "plate" in text else "vin"
        msg = (
            _("This plate is already on another vehicle.")
            if field == "plate"
            else _("This VIN is already on another vehicle.")
        )
        raise ApplicationError(msg, fields={field: msg}) from exc


def vehicle_create(
    *, site: Site, owner: Customer, actor, acknowledge_vin_warning: bool = False, **fields
) -> Vehicle:
    """A vehicle for `owner`, who becomes its current owner (an ownership row from today)."""
    if owner.site_id != site.pk:
        raise ApplicationError(
            _("The owner belongs to another site."), fields={"owner": _("Unknown customer.")}
        )
    if owner.merged_into_id:
        raise ApplicationError(
            _("This customer was merged into another one."),
            fields={"owner": _("This customer was merged into another one.")},
        )
    data = _clean_vehicle(fields, site=site, instance=None, acknowledge=acknowledge_vin_warning)
    today = timezone.localdate()
    if data.get("mileage_km") and not data.get("mileage_read_at"):
        data["mileage_read_at"] = today
    if data.get("mileage_km") and isinstance(data.get("mileage_read_at"), date):
        _check_reading_day(data["mileage_read_at"], field="mileage_read_at")
    vehicle = Vehicle(site=site, owner=owner, **data)
    _check_vehicle(vehicle)
    with transaction.atomic():
        _save_unique(vehicle)
        VehicleOwnership.objects.create(
            vehicle=vehicle,
            customer=owner,
            since=vehicle.purchase_date or today,
            recorded_by=_user(actor),
        )
        if vehicle.mileage_km:
            MileageReading.objects.create(
                vehicle=vehicle,
                km=vehicle.mileage_km,
                read_on=vehicle.mileage_read_at,
                source=MileageReading.Source.DESK,
                recorded_by=_user(actor),
            )
        vehicle_estimates_update(vehicle=vehicle)
        audit.record(
            subject=vehicle,
            action="vehicle_created",
            actor=actor,
            data={"vin_check_digit_acknowledged": not vehicle.vin_check_digit_ok},
        )
    return vehicle


def customer_with_vehicle_create(
    *,
    site: Site,
    actor,
    customer: dict[str, Any],
    vehicle: dict[str, Any],
    acknowledge_vin_warning: bool = False,
) -> tuple[Customer, Vehicle]:
    """A new customer and their car in one step (the front desk's one form): both are saved or
    neither is. Field errors name the field of either form part."""
    with transaction.atomic():
        new_customer = customer_create(site=site, actor=actor, **customer)
        new_vehicle = vehicle_create(
            site=site,
            owner=new_customer,
            actor=actor,
            acknowledge_vin_warning=acknowledge_vin_warning,
            **vehicle,
        )
    return new_customer, new_vehicle


def vehicle_update(
    *, vehicle: Vehicle, actor, acknowledge_vin_warning: bool = False, **fields
) -> Vehicle:
    """Change a vehicle's details. The odometer goes up through `vehicle_record_mileage`."""
    with transaction.atomic():
        vehicle = Vehicle.objects.select_for_update().select_related("owner").get(pk=vehicle.pk)
        km = fields.pop("mileage_km", None)
        read_on = fields.pop("mileage_read_at", None)
        data = _clean_vehicle(
            fields, site=vehicle.site, instance=vehicle, acknowledge=acknowledge_vin_warning
        )
        if km not in (None, ""):
            try:
                km = int(km)
            except (TypeError, ValueError):
                km = -1
            if km < 0:
                msg = _("Enter the odometer reading in km (0 or more).")
                raise ApplicationError(msg, fields={"mileage_km": msg})
            if km < vehicle.mileage_km:
                msg = _("The odometer cannot go back: the last reading is %(km)s km.") % {
                    "km": f"{vehicle.mileage_km:,}"
                }
                raise ApplicationError(msg, fields={"mileage_km": msg})
        old = {key: getattr(vehicle, key) for key in data}
        for key, value in data.items():
            setattr(vehicle, key, value)
        _check_vehicle(vehicle)
        changed = [k for k in data if old[k] != getattr(vehicle, k)]
        if changed:
            _save_unique(vehicle, update_fields=[*changed, "updated_at"])
            audit.record(
                subject=vehicle,
                action="vehicle_updated",
                actor=actor,
                data={"fields": sorted(changed)},
            )
        if km not in (None, "") and km > vehicle.mileage_km:
            try:
                vehicle_record_mileage(
                    vehicle=vehicle,
                    km=km,
                    read_on=read_on or timezone.localdate(),
                    actor=actor,
                    source=MileageReading.Source.DESK,
                )
            except ApplicationError as exc:  # name the fields of this form
                names = {"km": "mileage_km", "read_on": "mileage_read_at"}
                raise ApplicationError(
                    exc.message, fields={names.get(k, k): v for k, v in exc.fields.items()}
                ) from exc
            vehicle.refresh_from_db()
        elif changed:
            vehicle_estimates_update(vehicle=vehicle)
    return vehicle


def vehicle_change_owner(
    *, vehicle: Vehicle, new_owner: Customer, actor, since: date | None = None
) -> Vehicle:
    """Hand a vehicle to another customer; the old ownership is closed, the history kept."""
    since = since or timezone.localdate()
    with transaction.atomic():
        vehicle = Vehicle.objects.select_for_update().get(pk=vehicle.pk)
        if new_owner.site_id != vehicle.site_id or new_owner.merged_into_id:
            raise ApplicationError(
                _("Choose a current customer of this site."),
                fields={"owner": _("Choose a current customer of this site.")},
            )
        if new_owner.pk == vehicle.owner_id:
            return vehicle
        current = VehicleOwnership.objects.filter(vehicle=vehicle, until__isnull=True).first()
        if current:
            if since < current.since:
                msg = _("The new ownership cannot start before the current one (%(d)s).") % {
                    "d": current.since
                }
                raise ApplicationError(msg, fields={"since": msg})
            current.until = since
            current.save(update_fields=["until"])
        VehicleOwnership.objects.create(
            vehicle=vehicle, customer=new_owner, since=since, recorded_by=_user(actor)
        )
        old_owner = vehicle.owner_id
        vehicle.owner = new_owner
        vehicle.save(update_fields=["owner", "updated_at"])
        audit.record(
            subject=vehicle,
            action="owner_changed",
            actor=actor,
            data={"from_customer": old_owner, "to_customer": new_owner.pk, "since": str(since)},
        )
    return vehicle


def _user(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


MAX_ODOMETER_KM = 2_000_000  # beyond: a typo
FIRST_READING_DAY = date(1950, 1, 1)


def _check_reading_day(read_on: date, *, field: str = "read_on") -> None:
    if read_on > timezone.localdate():
        msg = _("The reading date cannot be in the future.")
        raise ApplicationError(msg, fields={field: msg})
    if read_on < FIRST_READING_DAY:
        msg = _("Enter a reading date after %(day)s.") % {"day": FIRST_READING_DAY.isoformat()}
        raise ApplicationError(msg, fields={field: msg})


def _check_reading(vehicle: Vehicle, *, km: int, read_on: date) -> None:
    """A reading may not lie in the future nor go back against the readings around it (an
    odometer only goes up): field messages on `km` / `read_on`."""
    _check_reading_day(read_on)
    readings = MileageReading.objects.filter(vehicle=vehicle)
    before = readings.filter(read_on__lte=read_on, km__gt=km).order_by("-km").first()
    current_applies = vehicle.mileage_read_at is None or vehicle.mileage_read_at <= read_on
    if before is None and vehicle.mileage_km > km and current_applies:
        before = MileageReading(km=vehicle.mileage_km, read_on=vehicle.mileage_read_at)
    if before is not None:
        msg = _(
            "The odometer cannot go back: %(km)s km was read on %(day)s. Check the reading."
        ) % {"km": f"{before.km:,}", "day": before.read_on or _("an earlier day")}
        raise ApplicationError(msg, fields={"km": msg})
    after = readings.filter(read_on__gt=read_on, km__lt=km).order_by("km").first()
    if after is not None:
        msg = _(
            "A later reading is lower: %(km)s km on %(day)s. Check the reading and its date."
        ) % {"km": f"{after.km:,}", "day": after.read_on}
        raise ApplicationError(msg, fields={"km": msg})


def vehicle_record_mileage(
    *,
    vehicle: Vehicle,
    km: int,
    read_on: date,
    actor=None,
    source: str = MileageReading.Source.INTAKE,
    strict: bool = True,
) -> Vehicle:
    """Keep an odometer reading. Refused (field message) when it lies in the future or goes back
    against the vehicle's other readings. `strict=False` (the odometer already on a delivered
    repair order) does not refuse: such a reading is left out of the history instead, so the
    km-per-day estimate never sees it."""
    try:
        km = int(km)
    except (TypeError, ValueError):
        km = -1
    if km < 0 or km > MAX_ODOMETER_KM:
        msg = _("Enter the odometer reading in km (0 to %(max)s).") % {
            "max": f"{MAX_ODOMETER_KM:,}"
        }
        raise ApplicationError(msg, fields={"km": msg})
    if isinstance(read_on, datetime):
        read_on = (
            timezone.localtime(read_on).date() if timezone.is_aware(read_on) else read_on.date()
        )
    with transaction.atomic():
        vehicle = Vehicle.objects.select_for_update().get(pk=vehicle.pk)
        try:
            _check_reading(vehicle, km=km, read_on=read_on)
        except ApplicationError:
            if strict:
                raise
            return vehicle
        MileageReading.objects.create(
            vehicle=vehicle, km=km, read_on=read_on, source=source, recorded_by=_user(actor)
        )
        if km > vehicle.mileage_km or (
            km == vehicle.mileage_km and (vehicle.mileage_read_at or date.min) < read_on
        ):
            vehicle.mileage_km = km
            vehicle.mileage_read_at = read_on
            vehicle.save(update_fields=["mileage_km", "mileage_read_at", "updated_at"])
        vehicle_estimates_update(vehicle=vehicle)
    return vehicle


def vehicle_estimates_update(*, vehicle: Vehicle) -> Vehicle:
    """Store what the vehicle's history says of its next service (`customers.service_due`):
    km/day, the day the next-service km is reached, the day the next service falls due and the
    day its first service falls (fell) due.
    Called wherever that history is written — the vehicle's details and readings here, its
    repair orders' odometers, deliveries and cancellations by workorders — and nightly."""
    v = service_due.with_history(Vehicle.objects.filter(pk=vehicle.pk)).get()
    new = service_due.estimates(v, today=timezone.localdate())
    if _store(v, new):
        Vehicle.objects.filter(pk=vehicle.pk).update(
            km_per_day=new.km_per_day,
            km_due_on=new.km_due_on,
            service_due_on=new.service_due_on,
            first_service_due_on=new.first_service_due_on,
        )
    _store(vehicle, new)
    return vehicle


def _store(vehicle: Vehicle, new: service_due.Estimates) -> bool:
    """Set the estimates on the instance; True when they changed."""
    fields = ("km_per_day", "km_due_on", "service_due_on", "first_service_due_on")
    old = tuple(getattr(vehicle, f) for f in fields)
    for f in fields:
        setattr(vehicle, f, getattr(new, f))
    return old != tuple(getattr(new, f) for f in fields)


# --- duplicates and merge --------------------------------------------------------------------
def customers_merge(*, keep: Customer, merge: Customer, actor) -> Customer:
    """Move everything of `merge` (vehicles, ownerships, repair orders, appointments, calls,
    complaints …) to `keep`, fill `keep`'s empty details from `merge`, and mark `merge` as merged.
    Service managers only. Audited on both customers."""
    require_role(actor, keep.site_id, Role.MANAGER)
    if keep.pk == merge.pk:
        raise ApplicationError(_("Choose two different customers to merge."))
    if keep.site_id != merge.site_id:
        raise ApplicationError(_("Only customers of the same site can be merged."))
    with transaction.atomic():
        first, second = sorted([keep.pk, merge.pk])
        locked = {
            c.pk: c
            for c in Customer.objects.select_for_update()
            .filter(pk__in=[first, second])
            .order_by("pk")
        }
        keep, merge = locked[keep.pk], locked[merge.pk]
        if keep.merged_into_id or merge.merged_into_id:
            raise ApplicationError(_("One of these customers was already merged."))
        moved: dict[str, int] = {}
        for rel in Customer._meta.related_objects:
            if rel.one_to_one or rel.many_to_many or not rel.field.concrete:
                continue
            if rel.related_model is Customer:
                continue  # merged_from
            field = rel.field
            count = rel.related_model._base_manager.filter(**{field.name: merge}).update(
                **{field.name: keep}
            )
            if count:
                moved[f"{rel.related_model._meta.label_lower}.{field.name}"] = count
        filled = []
        for key in ("phone", "email", "address", "birthday", "preferred_contact_time"):
            if not getattr(keep, key) and getattr(merge, key):
                setattr(keep, key, getattr(merge, key))
                filled.append(key)
        if not keep.phone2 and merge.phone and merge.phone != keep.phone:
            keep.phone2 = merge.phone
            filled.append("phone2")
        if merge.notes:
            keep.notes = (keep.notes + "\n" if keep.notes else "") + merge.notes
            filled.append("notes")
        if merge.last_delivery_at and (
            not keep.last_delivery_at or merge.last_delivery_at > keep.last_delivery_at
        ):
            keep.last_delivery_at = merge.last_delivery_at
            filled.append("last_delivery_at")
        if filled:
            keep.save(update_fields=[*sorted(set(filled)), "updated_at"])
        merge.merged_into = keep
        merge.save(update_fields=["merged_into", "updated_at"])
        audit.record(
            subject=keep,
            action="customer_merged",
            actor=actor,
            note=_("%(name)s (#%(id)s) merged into this customer.")
            % {"name": merge.name, "id": merge.pk},
            data={"merged": merge.pk, "moved": moved, "filled": filled},
        )
        audit.record(
            subject=merge,
            action="customer_merged_away",
            actor=actor,
            to_state="merged",
            note=_("Merged into %(name)s (#%(id)s).") % {"name": keep.name, "id": keep.pk},
            data={"into": keep.pk, "moved": moved},
        )
    if keep.last_delivery_at:
        segments_recompute(site=keep.site, customer_ids=[keep.pk])
    return keep


# --- segmentation ----------------------------------------------------------------------------
def segments_recompute(
    *, site: Site, today: date | None = None, customer_ids: list[int] | None = None
) -> int:
    """Retention bucket (3-6-9 from the last delivery) and ABC class for a site's customers.
    Returns how many customers changed. Running it twice changes nothing the second time."""
    from .selectors import abc_class_for, retention_bucket, spend_by_customer

    tz = site.tzinfo
    today = today or timezone.localtime(timezone.now(), tz).date()
    stats = spend_by_customer(site=site, today=today, customer_ids=customer_ids)
    if customer_ids is None:
        spend_threshold = _spend_threshold(site, [s["spend"] for s in stats.values()])
    else:  # a partial run still ranks against the whole site
        whole = spend_by_customer(site=site, today=today)
        spend_threshold = _spend_threshold(site, [s["spend"] for s in whole.values()])
    qs = Customer.objects.filter(site=site, merged_into__isnull=True)
    if customer_ids is not None:
        qs = qs.filter(pk__in=customer_ids)
    fields = ["last_delivery_at", "retention", "abc_class", "visits_12m", "spend_12m"]
    now = timezone.now()
    batch: list[Customer] = []
    changed = 0
    for customer in qs.only("id", *fields).iterator(chunk_size=2000):
        s = stats.get(customer.pk, {"visits": 0, "spend": Decimal("0"), "last": None})
        last = customer.last_delivery_at
        if s["last"] and (last is None or s["last"] > last):
            last = s["last"]
        new = {
            "last_delivery_at": last,
            "retention": retention_bucket(site=site, last_delivery_at=last, today=today),
            "abc_class": abc_class_for(
                site=site, visits=s["visits"], spend=s["spend"], spend_threshold=spend_threshold
            ),
            "visits_12m": s["visits"],
            "spend_12m": s["spend"].quantize(Decimal("0.01")),
        }
        if any(getattr(customer, k) != v for k, v in new.items()):
            for k, v in new.items():
                setattr(customer, k, v)
            customer.segmented_at = now
            batch.append(customer)
            changed += 1
        if len(batch) >= 1000:
            Customer.objects.bulk_update(batch, [*fields, "segmented_at"])
            batch = []
    if batch:
        Customer.objects.bulk_update(batch, [*fields, "segmented_at"])
    return changed


def _spend_threshold(site: Site, spends: list[Decimal]) -> Decimal | None:
    """The smallest 12-month spend still in the site's top share (default 20%) of spenders."""
    ranked = sorted((x for x in spends if x > 0), reverse=True)
    top_n = math.ceil(len(ranked) * float(site.abc_a_top_spend_share))
    return ranked[top_n - 1] if top_n else None


def vehicle_estimates_refresh(*, site: Site) -> int:
    """Nightly, and when the site's first-service rule changes: the stored estimates of every
    vehicle of a site (`vehicle_estimates_update`), read in chunks with their history; only the
    vehicles whose estimates changed are written. Returns how many vehicles were looked at."""
    today = timezone.localdate()
    first_service = service_due.first_service_rule(site.pk)
    qs = service_due.with_history(Vehicle.objects.filter(site=site)).order_by("id")
    fields = ["km_per_day", "km_due_on", "service_due_on", "first_service_due_on"]
    count, batch = 0, []
    for v in qs.iterator(chunk_size=2000):
        count += 1
        if _store(v, service_due.estimates(v, today=today, first_service=first_service)):
            batch.append(v)
        if len(batch) >= 1000:
            Vehicle.objects.bulk_update(batch, fields)
            batch = []
    if batch:
        Vehicle.objects.bulk_update(batch, fields)
    return count


__all__ = [
    "VinCheckDigitWarning",
    "customer_create",
    "customer_set_consent",
    "customer_update",
    "customers_merge",
    "segments_recompute",
    "vehicle_change_owner",
    "vehicle_create",
    "vehicle_estimates_refresh",
    "vehicle_estimates_update",
    "vehicle_record_mileage",
    "vehicle_update",
]
