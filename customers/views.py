"""Archive pages for the front desk: lookup, customer and vehicle create/edit/detail with inline
validation (htmx), merge, import. Views call services/selectors; every view checks the role
itself and only ever shows the current site's records (another site's id → 404)."""

from django.contrib import messages
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from dms import audit
from dms.exceptions import ApplicationError
from dms.models import Role
from dms.permissions import has_role, role_required

from . import imports, selectors, service_due, services, validators
from .forms import (
    CUSTOMER_SECTIONS,
    VEHICLE_SECTIONS,
    CustomerForm,
    ImportForm,
    MileageForm,
)
from .forms import VehicleForm as VehicleFormClass
from .models import Customer, ImportBatch, Vehicle

READ = (Role.ADVISOR, Role.FOLLOWUP_AGENT)
CUSTOMER_WRITE = (Role.ADVISOR, Role.FOLLOWUP_AGENT)
VEHICLE_WRITE = (Role.ADVISOR,)


def _customer(request, pk: int) -> Customer:
    return get_object_or_404(Customer, pk=pk, site=request.site)


def _vehicle(request, pk: int) -> Vehicle:
    return get_object_or_404(Vehicle.objects.select_related("owner"), pk=pk, site=request.site)


def _wire(form, url: str) -> None:
    """Each input validates itself on change (htmx posts the whole form, answers one field)."""
    for name, field in form.fields.items():
        if name == "acknowledge_vin_warning":
            continue
        field.widget.attrs.update(
            {
                "hx-post": url,
                "hx-trigger": "change",
                "hx-target": f"#err-{name}",
                "hx-swap": "innerHTML",
                "aria-describedby": f"err-{name}",
            }
        )


def _apply_error(form, exc: ApplicationError) -> None:
    placed = False
    for name, msgs in exc.fields.items():
        for msg in msgs:
            if name in form.fields:
                form.add_error(name, msg)
                placed = True
    if not placed:
        form.add_error(None, exc.message)


def _values(form, model, *, creating: bool) -> dict:
    """Cleaned data without empties that would override a model default."""
    out = {}
    for name, value in form.cleaned_data.items():
        if name == "acknowledge_vin_warning":
            continue
        if value is None:
            field = model._meta.get_field(name)
            if not field.null and (creating or field.has_default()):
                continue
        out[name] = value
    return out


# --- lookup ----------------------------------------------------------------------------------
@role_required(*READ)
def index(request):
    """The archive's front page: the one-box lookup, then the customer list by segment."""
    retention = request.GET.get("retention", "")
    abc = request.GET.get("abc", "")
    qs = selectors.customer_list(
        site_ids=[request.site.pk],
        retention=retention if retention in Customer.Retention.values else "",
        abc=abc if abc in Customer.AbcClass.values else "",
    )
    page = Paginator(qs.prefetch_related("vehicles"), 25).get_page(request.GET.get("page"))
    q = request.GET.get("q", "").strip()
    return render(
        request,
        "customers/index.html",
        {
            "q": q,
            "hits": selectors.lookup(site_ids=[request.site.pk], q=q) if q else None,
            "page": page,
            "retention": retention,
            "abc": abc,
            "counts": selectors.segment_counts(site=request.site),
            "retention_choices": Customer.Retention.choices,
            "abc_choices": Customer.AbcClass.choices,
            "can_create": has_role(request.user, request.site, *CUSTOMER_WRITE),
            "is_manager": has_role(request.user, request.site, Role.MANAGER),
        },
    )


@role_required(*READ)
def lookup(request):
    """GET ?q= → the results fragment for htmx (embed `customers/_lookup.html#box` anywhere);
    a plain request gets the full page."""
    q = request.GET.get("q", "").strip()
    hits = selectors.lookup(site_ids=[request.site.pk], q=q) if q else None
    context = {"q": q, "hits": hits, "pick": request.GET.get("pick", "")}
    if request.htmx:
        return render(request, "customers/_lookup.html#results", context)
    return redirect(f"{reverse('customers:index')}?q={q}" if q else reverse("customers:index"))


# --- customers -------------------------------------------------------------------------------
@role_required(*CUSTOMER_WRITE)
@require_http_methods(["GET", "POST"])
def customer_create(request):
    form = CustomerForm(
        request.POST if request.method == "POST" else None,
        initial={"phone": request.GET.get("phone", "")},
    )
    if request.method == "POST" and form.is_valid():
        try:
            customer = services.customer_create(
                site=request.site, actor=request.user, **_values(form, Customer, creating=True)
            )
        except ApplicationError as exc:
            _apply_error(form, exc)
        else:
            messages.success(request, _("Customer %(name)s created.") % {"name": customer.name})
            return redirect("customers:detail", pk=customer.pk)
    _wire(form, reverse("customers:validate_customer"))
    duplicates = []
    if request.method == "POST":
        duplicates = selectors.possible_duplicates(
            site=request.site,
            name=request.POST.get("name", ""),
            phone=request.POST.get("phone", ""),
        )
    return render(
        request,
        "customers/customer_form.html",
        {"form": form, "sections": CUSTOMER_SECTIONS, "customer": None, "duplicates": duplicates},
        status=400 if request.method == "POST" else 200,
    )


@role_required(*CUSTOMER_WRITE)
@require_http_methods(["GET", "POST"])
def customer_edit(request, pk: int):
    customer = _customer(request, pk)
    if customer.merged_into_id:
        return redirect("customers:detail", pk=customer.merged_into_id)
    initial = {name: getattr(customer, name) for name in services.CUSTOMER_FIELDS}
    form = CustomerForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.customer_update(
                customer=customer, actor=request.user, **_values(form, Customer, creating=False)
            )
        except ApplicationError as exc:
            _apply_error(form, exc)
        else:
            messages.success(request, _("Changes saved."))
            return redirect("customers:detail", pk=customer.pk)
    _wire(form, reverse("customers:validate_customer") + f"?exclude={customer.pk}")
    return render(
        request,
        "customers/customer_form.html",
        {"form": form, "sections": CUSTOMER_SECTIONS, "customer": customer, "duplicates": []},
        status=400 if request.method == "POST" else 200,
    )


@role_required(*READ)
def customer_detail(request, pk: int):
    customer = _customer(request, pk)
    vehicles = list(customer.vehicles.order_by("plate", "id"))
    hits = selectors.lookup(site_ids=[request.site.pk], q=customer.phone) if customer.phone else []
    open_work = next((h.open_repair_orders for h in hits if h.customer.pk == customer.pk), [])
    duplicates = selectors.possible_duplicates(
        site=request.site, phone=customer.phone, exclude_id=customer.pk
    )
    return render(
        request,
        "customers/customer_detail.html",
        {
            "customer": customer,
            "vehicles": vehicles,
            "open_work": open_work,
            "duplicates": duplicates if not customer.merged_into_id else [],
            "audit": list(audit.history(customer))[-15:][::-1],
            "past_vehicles": customer.ownerships.filter(until__isnull=False)
            .select_related("vehicle")
            .order_by("-until"),
            "can_edit": has_role(request.user, request.site, *CUSTOMER_WRITE),
            "can_add_vehicle": has_role(request.user, request.site, *VEHICLE_WRITE),
            "is_manager": has_role(request.user, request.site, Role.MANAGER),
        },
    )


@role_required(*READ)
def duplicates(request):
    """Fragment: possible duplicates for what is being typed (phone, or name and plate)."""
    found = selectors.possible_duplicates(
        site=request.site,
        name=request.GET.get("name", ""),
        phone=request.GET.get("phone", ""),
        plate=request.GET.get("plate", ""),
        exclude_id=_int(request.GET.get("exclude")),
    )
    return render(request, "customers/customer_form.html#duplicates", {"duplicates": found})


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@role_required(Role.MANAGER)
@require_http_methods(["GET", "POST"])
def customer_merge(request, pk: int):
    """Merge a duplicate into this customer (service managers)."""
    keep = _customer(request, pk)
    if request.method == "POST":
        dup = get_object_or_404(Customer, pk=_int(request.POST.get("merge")), site=request.site)
        try:
            services.customers_merge(keep=keep, merge=dup, actor=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request,
                _("%(dup)s was merged into %(keep)s.") % {"dup": dup.name, "keep": keep.name},
            )
            return redirect("customers:detail", pk=keep.pk)
    q = request.GET.get("q", "").strip()
    candidates = selectors.possible_duplicates(
        site=request.site, phone=keep.phone, exclude_id=keep.pk
    )
    name_twins = list(
        Customer.objects.filter(site=request.site, name=keep.name, merged_into__isnull=True)
        .exclude(pk=keep.pk)
        .order_by("id")[:10]
    )
    candidates += [c for c in name_twins if c not in candidates]
    hits = []
    if q:
        hits = [
            h for h in selectors.lookup(site_ids=[request.site.pk], q=q) if h.customer.pk != keep.pk
        ]
    return render(
        request,
        "customers/merge.html",
        {"keep": keep, "candidates": candidates, "hits": hits, "q": q},
    )


# --- vehicles --------------------------------------------------------------------------------
@role_required(*VEHICLE_WRITE)
@require_http_methods(["GET", "POST"])
def vehicle_create(request, customer_pk: int):
    owner = _customer(request, customer_pk)
    form = VehicleFormClass(
        request.POST if request.method == "POST" else None,
        initial={"service_interval_km": 10000, "service_interval_months": 6},
    )
    vin_warning = None
    if request.method == "POST" and form.is_valid():
        try:
            vehicle = services.vehicle_create(
                site=request.site,
                owner=owner,
                actor=request.user,
                acknowledge_vin_warning=form.cleaned_data.get("acknowledge_vin_warning", False),
                **_values(form, Vehicle, creating=True),
            )
        except services.VinCheckDigitWarning as exc:
            vin_warning = exc.message
        except ApplicationError as exc:
            _apply_error(form, exc)
        else:
            messages.success(request, _("Vehicle %(v)s added.") % {"v": vehicle})
            return redirect("customers:vehicle_detail", pk=vehicle.pk)
    _wire(form, reverse("customers:validate_vehicle"))
    return render(
        request,
        "customers/vehicle_form.html",
        {
            "form": form,
            "sections": VEHICLE_SECTIONS,
            "owner": owner,
            "vehicle": None,
            "vin_warning": vin_warning,
        },
        status=400 if request.method == "POST" else 200,
    )


@role_required(*VEHICLE_WRITE)
@require_http_methods(["GET", "POST"])
def vehicle_edit(request, pk: int):
    vehicle = _vehicle(request, pk)
    initial = {name: getattr(vehicle, name) for name in services.VEHICLE_FIELDS}
    form = VehicleFormClass(request.POST if request.method == "POST" else None, initial=initial)
    vin_warning = None
    if request.method == "POST" and form.is_valid():
        values = _values(form, Vehicle, creating=False)
        if values.get("mileage_km") == vehicle.mileage_km:
            values.pop("mileage_km")
            values.pop("mileage_read_at", None)
        try:
            services.vehicle_update(
                vehicle=vehicle,
                actor=request.user,
                acknowledge_vin_warning=form.cleaned_data.get("acknowledge_vin_warning", False),
                **values,
            )
        except services.VinCheckDigitWarning as exc:
            vin_warning = exc.message
        except ApplicationError as exc:
            _apply_error(form, exc)
        else:
            messages.success(request, _("Changes saved."))
            return redirect("customers:vehicle_detail", pk=vehicle.pk)
    _wire(form, reverse("customers:validate_vehicle") + f"?exclude={vehicle.pk}")
    return render(
        request,
        "customers/vehicle_form.html",
        {
            "form": form,
            "sections": VEHICLE_SECTIONS,
            "owner": vehicle.owner,
            "vehicle": vehicle,
            "vin_warning": vin_warning,
        },
        status=400 if request.method == "POST" else 200,
    )


@role_required(*READ)
def vehicle_detail(request, pk: int):
    vehicle = _vehicle(request, pk)
    today = timezone.localdate()
    return render(
        request,
        "customers/vehicle_detail.html",
        {
            "vehicle": vehicle,
            "visits": selectors.vehicle_history(vehicle=vehicle),
            "ownerships": selectors.vehicle_ownerships(vehicle=vehicle),
            "readings": vehicle.mileage_readings.select_related("recorded_by")[:10],
            "projected_today": service_due.projected_mileage(vehicle=vehicle, on=today),
            "mileage_form": MileageForm(initial={"read_on": today}),
            "can_edit": has_role(request.user, request.site, *VEHICLE_WRITE),
            "today": today,
        },
    )


@role_required(*VEHICLE_WRITE)
@require_POST
def vehicle_mileage(request, pk: int):
    vehicle = _vehicle(request, pk)
    form = MileageForm(request.POST)
    if form.is_valid():
        try:
            services.vehicle_record_mileage(
                vehicle=vehicle,
                km=form.cleaned_data["km"],
                read_on=form.cleaned_data.get("read_on") or timezone.localdate(),
                actor=request.user,
                source="desk",
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Mileage recorded."))
    else:
        messages.error(request, _("Enter the odometer reading in km (0 or more)."))
    return redirect("customers:vehicle_detail", pk=vehicle.pk)


# --- inline validation -----------------------------------------------------------------------
def _field_response(request, name: str, errors: list[str], extra: dict | None = None):
    context = {"name": name, "errors": errors, **(extra or {})}
    return render(request, "customers/_field_error.html", context)


@role_required(*CUSTOMER_WRITE)
@require_POST
def validate_customer(request):
    """htmx: check the field that changed; for phone/name also refresh possible duplicates."""
    name = request.headers.get("HX-Trigger-Name", "")
    value = request.POST.get(name, "")
    errors: list[str] = []
    try:
        if name in ("phone", "phone2") and value.strip():
            validators.normalize_phone(value, field=name)
        elif name == "phone":
            errors.append(_("Enter a phone number so the customer can be reached."))
        elif name == "name" and not value.strip():
            errors.append(_("Enter the customer's name."))
        elif name == "email" and value.strip():
            from django.core.validators import validate_email

            validate_email(value.strip())
    except ApplicationError as exc:
        errors.append(exc.message)
    except DjangoValidationError:
        errors.append(_("Enter a valid e-mail address."))
    extra = {}
    if name in ("phone", "name"):
        extra["duplicates"] = selectors.possible_duplicates(
            site=request.site,
            name=request.POST.get("name", ""),
            phone=request.POST.get("phone", ""),
            exclude_id=_int(request.GET.get("exclude")),
        )
        extra["oob_duplicates"] = True
    return _field_response(request, name, errors, extra)


@role_required(*VEHICLE_WRITE)
@require_POST
def validate_vehicle(request):
    """htmx: check the field that changed. A VIN with a wrong check digit answers a warning
    with the checkbox that acknowledges it; a VIN or plate already in use names that vehicle."""
    name = request.headers.get("HX-Trigger-Name", "")
    value = request.POST.get(name, "")
    exclude = _int(request.GET.get("exclude"))
    errors: list[str] = []
    extra: dict = {}
    others = Vehicle.objects.filter(site=request.site).select_related("owner")
    if exclude:
        others = others.exclude(pk=exclude)
    try:
        if name == "vin":
            vin = validators.normalize_vin(value)
            taken = others.filter(vin=vin).first()
            if taken:
                errors.append(
                    _("VIN %(vin)s is already on vehicle %(vehicle)s.")
                    % {"vin": vin, "vehicle": f"{taken.plate or taken.vin} ({taken.owner.name})"}
                )
            elif not validators.vin_check_digit_ok(vin):
                extra["vin_warning"] = services.VinCheckDigitWarning(vin).message
        elif name == "plate" and value.strip():
            plate = validators.normalize_plate(value)
            taken = others.filter(plate=plate).first()
            if taken:
                errors.append(
                    _("Plate %(plate)s is already on vehicle %(vehicle)s.")
                    % {"plate": plate, "vehicle": f"{taken.plate} ({taken.owner.name})"}
                )
        elif name == "year" and value.strip():
            year = _int(value)
            top = timezone.localdate().year + 1
            if year is None or not 1950 <= year <= top:
                errors.append(_("Enter a model year between 1950 and %(max)d.") % {"max": top})
    except ApplicationError as exc:
        errors.append(exc.message)
    return _field_response(request, name, errors, extra)


# --- import and segments ---------------------------------------------------------------------
@role_required(Role.MANAGER)
@require_http_methods(["GET", "POST"])
def import_upload(request):
    form = ImportForm(request.POST if request.method == "POST" else None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            batch = imports.import_check(
                site=request.site, actor=request.user, filename=upload.name, content=upload.read()
            )
        except ApplicationError as exc:
            form.add_error("file", exc.message)
        else:
            return redirect("customers:import_preview", pk=batch.pk)
    return render(
        request,
        "customers/import.html",
        {"form": form, "batch": None, "columns": imports.COLUMNS},
        status=400 if request.method == "POST" else 200,
    )


@role_required(Role.MANAGER)
@require_http_methods(["GET", "POST"])
def import_preview(request, pk: int):
    batch = get_object_or_404(ImportBatch, pk=pk, site=request.site)
    if request.method == "POST":
        try:
            batch = imports.import_apply(batch_id=batch.pk, actor=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            if batch.status == ImportBatch.Status.APPLIED:
                messages.success(
                    request,
                    _(
                        "Imported: %(customers)s new customers, %(vehicles)s vehicles "
                        "(%(existing)s existing customers matched by phone)."
                    )
                    % {
                        "customers": batch.result.get("customers", 0),
                        "vehicles": batch.result.get("vehicles", 0),
                        "existing": batch.result.get("existing_customers", 0),
                    },
                )
            else:
                messages.error(request, _("Nothing was saved: the file has errors (see below)."))
        return redirect("customers:import_preview", pk=batch.pk)
    errors_by_row: dict[int, list] = {}
    for e in batch.errors:
        errors_by_row.setdefault(e["row"], []).append(e)
    columns = sorted({k for r in batch.rows for k in r["values"]}, key=list(imports.COLUMNS).index)
    rows = [
        {
            "row": r["row"],
            "cells": [r["values"].get(c) for c in columns],
            "errors": errors_by_row.get(r["row"], []),
        }
        for r in batch.rows
    ]
    return render(
        request,
        "customers/import.html",
        {
            "form": ImportForm(),
            "batch": batch,
            "rows": rows,
            "columns": columns,
            "file_errors": errors_by_row.get(1, []),
            "error_rows": len([k for k in errors_by_row if k != 1]),
        },
    )


@role_required(Role.MANAGER)
@require_POST
def segments_recompute(request):
    from .tasks import recompute_segments

    site_id = request.site.pk
    transaction.on_commit(lambda: recompute_segments.delay(site_id))
    messages.success(
        request, _("Segments are being recomputed; reload the page in a minute to see them.")
    )
    return redirect("customers:index")
