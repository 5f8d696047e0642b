"""Pages and htmx fragments: the front desk, week load, booking panel, appointment detail,
welcome board and the parts pick list. Views validate input, call a service or selector and
render; every view checks roles itself and reads only the current site's rows."""

from datetime import date, timedelta
from decimal import Decimal

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from customers.models import Vehicle
from dms import live
from dms.audit import history
from dms.exceptions import ApplicationError
from dms.models import Role, StaffRole
from dms.permissions import role_required

from . import selectors, services
from .forms import BookingForm, CancelForm, NewCustomerForm, RescheduleForm, WalkInForm
from .models import ACTIVE_STATUSES, Appointment, PartReservation, ServiceOffering

DESK = (Role.ADVISOR,)
LOAD_ROLES = (Role.ADVISOR, Role.DISPATCHER, Role.PARTS_CLERK, Role.FOLLOWUP_AGENT)
BOARD_ROLES = (Role.ADVISOR,)
PARTS = (Role.PARTS_CLERK,)
CHANGED = "appointments-changed"  # htmx event: day boards and week strips reload


def _action_labels() -> dict:
    return {
        "booked": _("Booked"),
        "confirmed": _("Confirmed"),
        "rescheduled": _("Rescheduled"),
        "cancelled": _("Cancelled"),
        "no_show": _("No show"),
        "checked_in": _("Checked in"),
        "part_reserved": _("Part reserved"),
        "part_unreserved": _("Part released"),
    }


def _day(request, name: str = "date", default: date | None = None) -> date:
    """A date from the query (or form); a malformed or far-off one falls back to the default."""
    today = selectors.local_today(request.site)
    raw = request.GET.get(name) or request.POST.get(name)
    if raw:
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            day = None
        if day and abs((day - today).days) <= services.BOOKING_HORIZON_DAYS:
            return day
    return default or today


def _appointment(request, pk) -> Appointment:
    try:
        return (
            Appointment.objects.select_related("site", "customer", "vehicle", "advisor")
            .filter(site=request.site)
            .get(pk=pk)
        )
    except Appointment.DoesNotExist:
        raise Http404 from None


def _vehicle(request, pk) -> Vehicle:
    try:
        return Vehicle.objects.select_related("owner").get(pk=int(pk), site=request.site)
    except (Vehicle.DoesNotExist, TypeError, ValueError):
        raise Http404 from None


def _ro_url(ro) -> str | None:
    if ro is None:
        return None
    try:
        return reverse("workorders:detail", args=[ro.pk])
    except NoReverseMatch:
        return None


def _done(request, message: str, *, level=messages.SUCCESS, to=None, status=200):
    """Answer an action: htmx gets a flash line and the refresh event, a form post a redirect."""
    if request.htmx:
        response = render(
            request, "appointments/front_desk.html#flash", {"flash": message, "level": level}
        )
        response.status_code = status
        if level == messages.SUCCESS:
            response["HX-Trigger"] = CHANGED
        if to:
            response["HX-Redirect"] = to
        return response
    messages.add_message(request, level, message)
    return redirect(to or request.POST.get("next") or "appointments:front_desk")


def _week(site, start: date, days: int = 7) -> list[dict]:
    rows = selectors.week_load(site=site, start=start, days=days)
    for row in rows:
        row["bar"] = min(row["load_percent"], 100)
    return rows


# --- front desk ------------------------------------------------------------------------------
@require_GET
@role_required(*DESK)
def front_desk(request):
    """The advisor's home: today and tomorrow by advisor, the week's load, the lookup box."""
    site = request.site
    today = selectors.local_today(site)
    first = _day(request, default=today)
    now = timezone.now()
    boards = [
        selectors.day_board(site=site, day=first, now=now),
        selectors.day_board(site=site, day=first + timedelta(days=1), now=now),
    ]
    return render(
        request,
        "appointments/front_desk.html",
        {
            "site": site,
            "today": today,
            "first": first,
            "boards": boards,
            "week": _week(site, today),
            "prev_day": first - timedelta(days=1),
            "next_day": first + timedelta(days=1),
            "q": request.GET.get("q", ""),
            # ?vehicle=… opens the booking panel for that car (from its archive page)
            "panel_vehicle": request.GET.get("vehicle", "")
            if request.GET.get("vehicle", "").isdigit()
            else "",
        },
    )


@require_GET
@live.polled("day", apps=("appointments", "customers", "workorders", "dms"))
@role_required(*LOAD_ROLES)
def day_fragment(request):
    site = request.site
    board = selectors.day_board(site=site, day=_day(request), now=timezone.now())
    return render(
        request,
        "appointments/front_desk.html#day_board",
        {"board": board, "today": selectors.local_today(site)},
    )


@require_GET
@role_required(*LOAD_ROLES)
def week(request):
    """Each day's booked and remaining workshop hours, to level the load (and for the workshop
    and parts desk to see tomorrow's hours)."""
    site = request.site
    today = selectors.local_today(site)
    start = _day(request, "start", default=today)
    context = {
        "site": site,
        "today": today,
        "start": start,
        "week": _week(site, start, 14),
        "prev": start - timedelta(days=7),
        "next": start + timedelta(days=7),
    }
    if request.htmx and request.GET.get("strip"):
        return render(
            request,
            "appointments/front_desk.html#week_strip",
            {**context, "week": _week(site, today)},
        )
    return render(request, "appointments/week.html", context)


@require_GET
@role_required(*DESK)
def lookup(request):
    q = request.GET.get("q", "")
    rows = selectors.search_vehicles(site=request.site, q=q)
    return render(request, "appointments/front_desk.html#lookup_results", {"rows": rows, "q": q})


def _prefill(q: str) -> dict:
    """What the lookup box held, put in the field it belongs to: a plate, a VIN, a phone or a
    name (full-width characters typed on a Chinese keyboard read as ordinary ones)."""
    from customers import validators

    q = " ".join(validators.nfkc(q).split())
    if not q:
        return {}
    compact = "".join(q.split()).upper()
    digits = "".join(c for c in q if c.isdigit())
    if compact[0] in validators.PROVINCES and len(compact) in (7, 8):
        return {"plate": compact}
    if len(compact) == validators.VIN_LENGTH and compact.isalnum():
        return {"vin": compact}
    if digits and len(digits) >= 7 and all(c.isdigit() or c in "+-() " for c in q):
        return {"phone": q}
    if not digits:
        return {"name": q}
    return {}


@role_required(*DESK)
def new_customer(request):
    """One form for a new customer and their car, pre-filled from the lookup box; on success
    the booking panel opens for the new car."""
    from customers import services as archive

    if request.method == "GET":
        form = NewCustomerForm(initial=_prefill(request.GET.get("q", "")))
        return render(request, "appointments/front_desk.html#new_customer", {"form": form})
    form = NewCustomerForm(request.POST)
    vin_warning = ""
    if form.is_valid():
        d = form.cleaned_data
        try:
            customer, vehicle = archive.customer_with_vehicle_create(
                site=request.site,
                actor=request.user,
                customer={k: d[k] for k in NewCustomerForm.CUSTOMER},
                vehicle={k: d[k] for k in NewCustomerForm.VEHICLE if d[k] not in (None, "")},
                acknowledge_vin_warning=d["acknowledge_vin_warning"],
            )
        except archive.VinCheckDigitWarning as exc:
            vin_warning = exc.message
        except ApplicationError as exc:
            placed = False
            for field, msgs in exc.fields.items():
                if field in form.fields:
                    form.add_error(field, msgs)
                    placed = True
            if not placed:
                form.add_error(None, exc.message)
        else:
            hours = Decimal("1.0")
            booking = BookingForm(
                offerings=_offerings(request.site),
                initial={"vehicle": vehicle.pk, "estimated_hours": hours, "channel": "front_desk"},
            )
            context = _panel_context(
                request, vehicle, selectors.local_today(request.site), booking, hours
            )
            context["created"] = _(
                "Customer %(name)s and car %(car)s added to the archive. Choose a slot, or check "
                "the car in as a walk-in."
            ) % {"name": customer.name, "car": vehicle.plate or vehicle.vin}
            response = render(request, "appointments/front_desk.html#booking_panel", context)
            return response
    return render(
        request,
        "appointments/front_desk.html#new_customer",
        {"form": form, "vin_warning": vin_warning},
        status=200 if request.htmx else 400,  # htmx swaps only a 2xx answer
    )


# --- booking ---------------------------------------------------------------------------------
def _panel_context(request, vehicle, day: date, form: BookingForm, hours: Decimal, error=""):
    site = request.site
    now = timezone.now()
    today = selectors.local_today(site, now)
    day = max(day, today)
    avail = selectors.availability(site=site, day=day, hours=hours, now=now)
    board = selectors.day_board(site=site, day=day, now=now)
    free = {(s["advisor_id"], s["start"]) for s in avail["slots"]}
    for row in board["rows"]:
        for cell in row["cells"]:
            key = (cell["advisor"].pk, row["slot"].start)
            taken = (
                cell["appointment"] is not None and cell["appointment"].status in ACTIVE_STATUSES
            )
            cell["free"] = key in free
            cell["bookable_buffer"] = (
                row["slot"].is_buffer and not taken and row["slot"].start > now
            )
            cell["value"] = f"{row['slot'].start.isoformat()}|{cell['advisor'].pk}"
    history_rows = list(
        Appointment.objects.filter(vehicle=vehicle).select_related("advisor").order_by("-start")[:3]
    )
    return {
        "vehicle": vehicle,
        "customer": vehicle.owner,
        "day": day,
        "today": today,
        "prev_day": max(day - timedelta(days=1), today),
        "next_day": day + timedelta(days=1),
        "avail": avail,
        "board": board,
        "form": form,
        "hours": hours,
        "error": error,
        "recent": history_rows,
        # after a refused booking the slot the advisor chose stays chosen
        "chosen_slot": form.data.get("slot", "") if form.is_bound else "",
    }


def _offerings(site):
    return list(ServiceOffering.objects.filter(site=site, active=True))


@role_required(*DESK)
def book(request):
    """The booking panel: pick a day, see the slot grid and capacity, book in one click."""
    site = request.site
    if request.method == "GET":
        vehicle = _vehicle(request, request.GET.get("vehicle"))
        try:
            hours = Decimal(request.GET.get("hours") or "1.0")
        except ArithmeticError:
            hours = Decimal("1.0")
        form = BookingForm(
            offerings=_offerings(site),
            initial={"vehicle": vehicle.pk, "estimated_hours": hours, "channel": "front_desk"},
        )
        return render(
            request,
            "appointments/front_desk.html#booking_panel",
            _panel_context(request, vehicle, _day(request), form, hours),
        )
    data = request.POST.copy()
    if data.get("slot") and "|" in data["slot"]:
        data["start"], data["advisor"] = data["slot"].split("|", 1)
    form = BookingForm(data, offerings=_offerings(site))
    vehicle = _vehicle(request, data.get("vehicle"))
    hours = Decimal("1.0")
    error = ""
    if form.is_valid():
        d = form.cleaned_data
        hours = d["estimated_hours"] or hours
        advisor = None
        if d["advisor"]:
            advisor = (
                StaffRole.objects.filter(site=site, user_id=d["advisor"], role=Role.ADVISOR)
                .select_related("user")
                .first()
            )
            advisor = advisor.user if advisor else None
        try:
            appointment = services.appointment_book(
                site=site,
                customer=vehicle.owner,
                vehicle=vehicle,
                start=d["start"],
                actor=request.user,
                advisor=advisor,
                estimated_hours=d["estimated_hours"],
                services=d["services"],
                source=d["source"],
                channel=d["channel"],
                notes=d["notes"],
                override_reason=d["override_reason"],
                allow_same_day=d["allow_same_day"],
            )
        except ApplicationError as exc:
            error = exc.message
            for field, msgs in exc.fields.items():
                if field in form.fields:
                    form.add_error(field, msgs)
        else:
            response = render(
                request,
                "appointments/front_desk.html#booked",
                {
                    "appointment": appointment,
                    "confirmation": selectors.confirmation_text(appointment),
                },
            )
            response["HX-Trigger"] = CHANGED
            return response
    else:
        error = _("Please correct the highlighted fields.")
    start = getattr(form, "cleaned_data", {}).get("start")
    if start is not None:
        day = (start.astimezone(site.tzinfo) if timezone.is_aware(start) else start).date()
    else:
        day = _day(request)
    return render(
        request,
        "appointments/front_desk.html#booking_panel",
        _panel_context(request, vehicle, day, form, hours, error),
    )


@require_POST
@role_required(*DESK)
def walk_in(request):
    form = WalkInForm(request.POST)
    if not form.is_valid():
        return _done(request, _("Choose the vehicle first."), level=messages.ERROR, status=400)
    vehicle = _vehicle(request, form.cleaned_data["vehicle"])
    try:
        appointment, ro = services.appointment_walk_in(
            site=request.site,
            customer=vehicle.owner,
            vehicle=vehicle,
            actor=request.user,
            estimated_hours=form.cleaned_data["estimated_hours"],
            notes=form.cleaned_data["notes"],
        )
    except ApplicationError as exc:
        return _done(request, exc.message, level=messages.ERROR, status=exc.status_code)
    start = appointment.start.astimezone(request.site.tzinfo)
    return _done(
        request,
        _("Walk-in %(plate)s checked in at %(time)s with %(advisor)s.")
        % {
            "plate": vehicle.plate or vehicle.vin,
            "time": start.strftime("%H:%M"),
            "advisor": selectors.person_name(appointment.advisor),
        },
        to=_ro_url(ro),
    )


# --- one appointment -------------------------------------------------------------------------
@require_GET
@role_required(*DESK)
def detail(request, pk):
    appointment = _appointment(request, pk)
    labels = _action_labels()
    return render(
        request,
        "appointments/detail.html",
        {
            "a": appointment,
            "confirmation": selectors.confirmation_text(appointment),
            "advisor_name": selectors.person_name(appointment.advisor),
            "history": [
                {"e": e, "label": labels.get(e.action, e.action)} for e in history(appointment)
            ],
            "reminders": appointment.call_tasks.filter(
                kind__in=["reminder_day_before", "reminder_soon"]
            ).order_by("due_at"),
            "parts": appointment.part_reservations.all(),
            "reschedule_form": RescheduleForm(),
            "cancel_form": CancelForm(),
            "ro_url": _ro_url(getattr(appointment, "repair_order", None)),
            "tz": request.site.tzinfo,
        },
    )


@require_POST
@role_required(*DESK)
def act(request, pk, action):
    """confirm | check-in | cancel | reschedule, from the day board or the detail page."""
    appointment = _appointment(request, pk)
    plate = appointment.vehicle.plate or appointment.vehicle.vin
    try:
        if action == "confirm":
            services.appointment_confirm(appointment_id=appointment.pk, actor=request.user)
            return _done(request, _("%(plate)s confirmed.") % {"plate": plate})
        if action == "check-in":
            ro = services.appointment_check_in(appointment_id=appointment.pk, actor=request.user)
            return _done(
                request,
                _("%(plate)s checked in.") % {"plate": plate},
                to=_ro_url(ro),
            )
        if action == "cancel":
            form = CancelForm(request.POST)
            if not form.is_valid():
                raise ApplicationError(form.errors["reason"][0])
            services.appointment_cancel(
                appointment_id=appointment.pk,
                actor=request.user,
                reason=form.cleaned_data["reason"],
            )
            return _done(request, _("%(plate)s cancelled.") % {"plate": plate})
        if action == "reschedule":
            data = request.POST.copy()
            if data.get("slot") and "|" in data["slot"]:
                data["start"], data["advisor"] = data["slot"].split("|", 1)
            form = RescheduleForm(data)
            if not form.is_valid():
                raise ApplicationError(next(iter(form.errors.values()))[0])
            advisor = None
            if form.cleaned_data["advisor"]:
                role = StaffRole.objects.filter(
                    site=request.site, user_id=form.cleaned_data["advisor"], role=Role.ADVISOR
                ).first()
                advisor = role.user if role else None
            moved = services.appointment_reschedule(
                appointment_id=appointment.pk,
                start=form.cleaned_data["start"],
                actor=request.user,
                advisor=advisor,
                override_reason=form.cleaned_data["override_reason"],
            )
            start = moved.start.astimezone(request.site.tzinfo)
            return _done(
                request,
                _("%(plate)s moved to %(when)s.")
                % {"plate": plate, "when": start.strftime("%Y-%m-%d %H:%M")},
                to=reverse("appointments:detail", args=[appointment.pk])
                if not request.htmx
                else None,
            )
    except ApplicationError as exc:
        return _done(request, exc.message, level=messages.ERROR, status=exc.status_code)
    raise Http404


# --- welcome board ---------------------------------------------------------------------------
@require_GET
@live.polled("welcome", apps=("appointments", "customers", "workorders", "dms"))
@role_required(*BOARD_ROLES)
def welcome_board(request):
    """欢迎牌: a full-screen list of today's customers for the reception area (printable)."""
    site = request.site
    today = selectors.local_today(site)
    now = timezone.now()
    rows = selectors.welcome_board(site=site, day=today, now=now)
    context = {
        "site": site,
        "today": today,
        "rows": [r for r in rows if not r["earlier"]],
        "earlier": [r for r in rows if r["earlier"]],
        "now": now.astimezone(site.tzinfo),
    }
    if request.htmx:
        return render(request, "appointments/welcome_board.html#rows", context)
    return render(request, "appointments/welcome_board.html", context)


# --- parts pick list -------------------------------------------------------------------------
@require_GET
@role_required(*PARTS)
def pick_list(request):
    """Tomorrow's (or the chosen day's) bookings and the parts they need, to pick and reserve."""
    site = request.site
    today = selectors.local_today(site)
    day = _day(request, default=today + timedelta(days=1))
    appointments = selectors.pick_list(site=site, day=day)
    totals: dict[tuple[str, str], Decimal] = {}
    for a in appointments:
        for p in a.part_reservations.all():
            key = (p.part_number, p.name)
            totals[key] = totals.get(key, Decimal("0")) + p.quantity
    return render(
        request,
        "appointments/pick_list.html",
        {
            "site": site,
            "day": day,
            "today": today,
            "appointments": appointments,
            "totals": sorted(totals.items()),
            "load": selectors.day_load(site=site, day=day),
            "put_back": selectors.parts_to_put_back(site=site, since=today),
            "prev_day": day - timedelta(days=1),
            "next_day": day + timedelta(days=1),
            "tz": site.tzinfo,
        },
    )


@require_POST
@role_required(*PARTS)
def part_reserve(request, pk):
    try:
        row = PartReservation.objects.select_related("appointment").get(
            pk=pk, appointment__site=request.site
        )
    except PartReservation.DoesNotExist:
        raise Http404 from None
    reserved = request.POST.get("reserved", "1") == "1"
    try:
        row = services.part_reserve(reservation_id=row.pk, actor=request.user, reserved=reserved)
    except ApplicationError as exc:
        return HttpResponse(exc.message, status=exc.status_code)
    if request.htmx:
        return render(request, "appointments/pick_list.html#part_row", {"p": row})
    return redirect(f"{reverse('appointments:pick_list')}?date={row.appointment.day}")
