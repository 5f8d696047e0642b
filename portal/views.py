"""The customer's pages (no login): online booking, the booking's own link, the live status of
the car with approvals and documents, the follow-up survey. Views validate input and call the
portal's services, which call the domain apps' services. A wrong, expired or never-made link
gets the same 404 page."""

from __future__ import annotations

from datetime import date, datetime

from django.contrib import messages
from django.http import FileResponse, Http404, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_POST

from appointments.models import AppointmentStatus
from dms.exceptions import ApplicationError
from dms.models import Role
from dms.permissions import role_required
from workorders.selectors import repair_order_get

from . import forms as f
from . import selectors, services
from .limits import client_address, customer_page
from .models import CustomerLink

P = CustomerLink.Purpose


def _gone(request):
    """The one answer for a link that is wrong, expired, revoked or never existed."""
    return render(request, "portal/invalid.html", status=404)


def _link(token: str, purpose: str) -> CustomerLink | None:
    try:
        return services.link_resolve(token=token, purpose=purpose)
    except ApplicationError:
        return None


def _day(value, site) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return timezone.localtime(timezone.now(), site.tzinfo).date()


def _start(value, site) -> datetime | None:
    try:
        start = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return timezone.make_aware(start, site.tzinfo) if timezone.is_naive(start) else start


# --- online booking --------------------------------------------------------------------------
def _booking_context(request, site, form=None, error=""):
    menu = selectors.service_menu(site)
    chosen = request.POST.getlist("services") or request.GET.getlist("services")
    day = _day(request.POST.get("day") or request.GET.get("day"), site)
    today = timezone.localtime(timezone.now(), site.tzinfo).date()
    return {
        "site": site,
        "menu": menu,
        "chosen": chosen,
        "day": max(day, today),
        "today": today,
        "times": selectors.free_times(site=site, day=max(day, today), codes=chosen)
        if chosen
        else None,
        "start": request.POST.get("start") or request.GET.get("start") or "",
        "form": form,
        "error": error,
    }


@customer_page
def book(request, site_code):
    site = selectors.site_for_booking(site_code)
    if site is None:
        return _gone(request)
    return render(request, "portal/book.html", _booking_context(request, site))


@customer_page
def book_times(request, site_code):
    """The free times of the chosen day for the chosen services (htmx fragment)."""
    site = selectors.site_for_booking(site_code)
    if site is None:
        return _gone(request)
    return render(request, "portal/book.html#times", _booking_context(request, site))


@customer_page
@csrf_protect
@require_POST
def book_code(request, site_code):
    """Plate and mobile number given: send the one-time code (nothing is held yet)."""
    site = selectors.site_for_booking(site_code)
    if site is None:
        return _gone(request)
    menu = selectors.service_menu(site)
    form = f.CodeRequestForm(request.POST, menu=menu)
    if not form.is_valid():
        return render(
            request, "portal/book.html", _booking_context(request, site, form), status=400
        )
    try:
        row, _code = services.code_request(
            site=site,
            phone=form.cleaned_data["phone"],
            plate=form.cleaned_data["plate"],
            pending={
                "services": form.cleaned_data["services"],
                "start": form.cleaned_data["start"],
            },
            address=client_address(request),
        )
    except ApplicationError as exc:
        for field, errors in exc.fields.items():
            if field in form.fields:
                for message in errors:
                    form.add_error(field, message)
        ctx = _booking_context(request, site, form, error=exc.message)
        return render(request, "portal/book.html", ctx, status=exc.status_code)
    return render(
        request,
        "portal/book_code.html",
        {"site": site, "form": f.CodeForm(initial={"key": row.request_key}), "phone": row.phone},
    )


@customer_page
@csrf_protect
@require_POST
def book_confirm(request, site_code):
    """The code: confirmed → booked (a known car) or asked for name and VIN (a new one)."""
    site = selectors.site_for_booking(site_code)
    if site is None:
        return _gone(request)
    form = f.CodeForm(request.POST)
    if not form.is_valid():
        return render(request, "portal/book_code.html", {"site": site, "form": form}, status=400)
    key = form.cleaned_data["key"]
    try:
        row = services.code_confirm(site=site, request_key=key, code=form.cleaned_data["code"])
    except ApplicationError as exc:
        form.add_error("code", exc.message)
        return render(
            request, "portal/book_code.html", {"site": site, "form": form}, status=exc.status_code
        )
    if not services.vehicle_known(site=site, row=row):
        return render(
            request,
            "portal/book_details.html",
            {"site": site, "form": f.DetailsForm(initial={"key": key})},
        )
    return _complete(request, site, key)


@customer_page
@csrf_protect
@require_POST
def book_details(request, site_code):
    site = selectors.site_for_booking(site_code)
    if site is None:
        return _gone(request)
    form = f.DetailsForm(request.POST)
    if not form.is_valid():
        return render(request, "portal/book_details.html", {"site": site, "form": form}, status=400)
    data = form.cleaned_data
    return _complete(request, site, data["key"], form=form, name=data["name"], vin=data["vin"])


def _complete(request, site, key, form=None, name="", vin=""):
    try:
        _appointment, token = services.booking_complete(
            site=site, request_key=key, name=name, vin=vin, language=request.LANGUAGE_CODE
        )
    except ApplicationError as exc:
        template = "portal/book_details.html" if form is not None else "portal/book_code.html"
        form = form or f.CodeForm(initial={"key": key})
        for field, errors in exc.fields.items():
            if field in form.fields:
                for message in errors:
                    form.add_error(field, message)
        if not exc.fields:
            form.add_error(None, exc.message)
        return render(request, template, {"site": site, "form": form}, status=exc.status_code)
    return redirect("portal:booking", token=token)


# --- the booking's link: confirmation, reschedule, cancel -----------------------------------
@customer_page
def booking(request, token):
    link = _link(token, P.BOOKING)
    if link is None:
        return _gone(request)
    appointment = selectors.booking_of(link.appointment_id)
    site = appointment.site
    day = _day(request.GET.get("day"), site) if request.GET.get("day") else appointment.day
    codes = [s.get("code") for s in appointment.services if isinstance(s, dict) and s.get("code")]
    ctx = {
        "site": site,
        "appointment": appointment,
        "start": selectors.local(site, appointment.start),
        "advisor": services.person_name(appointment.advisor),
        "token": token,
        "changeable": services.booking_changeable(appointment),
        "day": day,
        "times": selectors.free_times(site=site, day=day, codes=codes)
        if services.booking_changeable(appointment)
        else None,
        "error": "",
        "wechat_offered": False if request.htmx else _wechat_offered_for_booking(link, appointment),
    }
    template = "portal/booking.html#times" if request.htmx else "portal/booking.html"
    return render(request, template, ctx)


@customer_page
@csrf_protect
@require_POST
def booking_reschedule(request, token):
    link = _link(token, P.BOOKING)
    if link is None:
        return _gone(request)
    start = _start(request.POST.get("start"), link.site)
    try:
        if start is None:
            raise ApplicationError(_("Choose a time."))
        services.booking_reschedule(link=link, start=start)
    except ApplicationError as exc:
        return _booking_error(request, token, link, exc)
    return redirect("portal:booking", token=token)


@customer_page
@csrf_protect
@require_POST
def booking_cancel(request, token):
    link = _link(token, P.BOOKING)
    if link is None:
        return _gone(request)
    form = f.CancelForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        services.booking_cancel(link=link, reason=reason)
    except ApplicationError as exc:
        return _booking_error(request, token, link, exc)
    return redirect("portal:booking", token=token)


def _booking_error(request, token, link, exc):
    appointment = selectors.booking_of(link.appointment_id)
    site = appointment.site
    codes = [s.get("code") for s in appointment.services if isinstance(s, dict) and s.get("code")]
    ctx = {
        "site": site,
        "appointment": appointment,
        "start": selectors.local(site, appointment.start),
        "advisor": services.person_name(appointment.advisor),
        "token": token,
        "changeable": services.booking_changeable(appointment),
        "day": appointment.day,
        "times": selectors.free_times(site=site, day=appointment.day, codes=codes),
        "error": exc.message,
        "wechat_offered": _wechat_offered_for_booking(link, appointment),
    }
    return render(request, "portal/booking.html", ctx, status=exc.status_code)


def _wechat_offered_for_booking(link, appointment) -> bool:
    if appointment.status == AppointmentStatus.CANCELLED:
        return False
    return services.wechat_offered(link=link, customer=appointment.customer)


# --- the live status of the car --------------------------------------------------------------
def _status_response(
    request, token, repair_order_id, template, *, link=None, error="", status=200, tag=None
):
    """The status page, or its polled part (`#live`: no link, the tag read with it)."""
    if tag is None:
        tag = selectors.status_tag(repair_order_id, request.LANGUAGE_CODE)
    ctx = {**selectors.status_of(repair_order_id), "token": token, "error": error}
    ctx["site"] = ctx["ro"].site
    ctx["etag"] = tag or ""
    if "#" not in template:  # the whole page (the polled part does not offer it)
        ctx["wechat_offered"] = services.wechat_offered(link=link, customer=ctx["ro"].customer)
    response = render(request, template, ctx, status=status)
    if tag and status == 200:
        response["ETag"] = tag
    return response


@customer_page
def status(request, token):
    link = _link(token, P.STATUS)
    if link is None:
        return _gone(request)
    return _status_response(request, token, link.repair_order_id, "portal/status.html", link=link)


@customer_page
def status_live(request, token):
    """The polled part of the status page: 304 while nothing changed (one small query: the
    link with its repair order's version). The page sends the tag of what it shows
    (portal.js) and keeps its content on a 304, so a half-filled answer is not reset by the
    polling."""
    try:
        values = services.link_values(
            token=token, purpose=P.STATUS, fields=selectors.STATUS_TAG_FIELDS
        )
    except ApplicationError:
        return _gone(request)
    tag = selectors.status_tag_of(values, request.LANGUAGE_CODE)
    if tag and request.headers.get("If-None-Match") == tag:
        response = HttpResponse(status=304)
        response["ETag"] = tag
        return response
    return _status_response(
        request, token, values["repair_order_id"], "portal/status.html#live", tag=tag
    )


@customer_page
@csrf_protect
@require_POST
def status_approve(request, token):
    link = _link(token, P.STATUS)
    if link is None:
        return _gone(request)
    try:
        version = int(request.POST.get("estimate_version", ""))
    except ValueError:
        version = -1
    job_ids = request.POST.getlist("job")
    answers = [
        {
            "job_id": job_id,
            "decision": request.POST.get(f"decision_{job_id}"),
            "reason": request.POST.get(f"reason_{job_id}", "")[:200],
        }
        for job_id in job_ids
        if request.POST.get(f"decision_{job_id}")
    ]
    try:
        services.approvals_answer(
            link=link,
            answers=answers,
            estimate_version=version,
            customer_name=request.POST.get("customer_name", "")[:120],
        )
    except ApplicationError as exc:
        return _status_response(
            request,
            token,
            link.repair_order_id,
            "portal/status.html",
            link=link,
            error=exc.message,
            status=exc.status_code,
        )
    return redirect("portal:status", token=token)


@customer_page
def status_photo(request, token, photo_id):
    link = _link(token, P.STATUS)
    if link is None:
        raise Http404
    photo = selectors.photo_of(repair_order_id=link.repair_order_id, photo_id=photo_id)
    if photo is None:
        raise Http404
    return FileResponse(photo.image.open("rb"))


@customer_page
def status_document(request, token, kind, approval_id):
    link = _link(token, P.STATUS)
    if link is None:
        return _gone(request)
    try:
        doc = services.document_for_customer(link=link, kind=kind, approval_id=approval_id or None)
    except ApplicationError:
        return _gone(request)
    return FileResponse(
        doc.file.open("rb"),
        content_type="application/pdf",
        filename=f"{doc.repair_order.number}-{kind}.pdf",
    )


# --- the follow-up survey --------------------------------------------------------------------
@customer_page
@csrf_protect
def survey(request, token):
    link = _link(token, P.SURVEY)
    if link is None:
        return _gone(request)
    from outreach.models import CallTask

    task = CallTask.objects.select_related("site", "vehicle").filter(pk=link.call_task_id).first()
    if task is None:
        return _gone(request)
    answered = bool(task.data.get("survey"))
    form = f.SurveyForm()
    status = 200
    if request.method == "POST":
        if answered:
            return HttpResponseNotAllowed(["GET"])
        form = f.SurveyForm(request.POST)
        if form.is_valid():
            try:
                services.survey_answer(link=link, **form.cleaned_data)
            except ApplicationError as exc:
                form.add_error(None, exc.message)
                status = exc.status_code
            else:
                return redirect("portal:survey", token=token)
        else:
            status = 400
    ctx = {"site": task.site, "task": task, "form": form, "answered": answered}
    return render(request, "portal/survey.html", ctx, status=status)


# --- "Get updates on WeChat": WeChat's web authorization, then the customer's consent -------
def _in_wechat(request) -> bool:
    """WeChat's own browser (its authorization page opens nowhere else)."""
    return "MicroMessenger" in request.headers.get("User-Agent", "")


def _wechat_start(request, token, purpose):
    link = _link(token, purpose)
    if link is None:
        return _gone(request)
    page = services.link_page(link)
    if not services.wechat_offered(link=link):
        return redirect(page)  # linked already, or the site no longer sends by WeChat
    if not _in_wechat(request):
        ctx = {"site": link.site, "url": services.link_url(purpose, token), "back": page}
        return render(request, "portal/wechat_open.html", ctx)
    try:
        return redirect(services.wechat_authorize_url(link=link))
    except ApplicationError:
        return redirect(page)


@customer_page
def status_wechat(request, token):
    return _wechat_start(request, token, P.STATUS)


@customer_page
def booking_wechat(request, token):
    return _wechat_start(request, token, P.BOOKING)


def _wechat_problem(request, exc, link=None):
    ctx = {
        "site": link.site if link else None,
        "error": exc.message,
        "back": services.link_page(link) if link else "",
    }
    return render(request, "portal/wechat_problem.html", ctx, status=exc.status_code)


@customer_page
@csrf_protect
def wechat_callback(request):
    """WeChat's authorization page sends the customer back here with `code` and `state`:
    the consent question (nothing is linked yet)."""
    try:
        link = services.wechat_state_link(request.GET.get("state", ""))
    except ApplicationError as exc:
        return _wechat_problem(request, exc)
    try:
        ticket = services.wechat_consent_ask(link=link, code=request.GET.get("code", ""))
    except ApplicationError as exc:
        return _wechat_problem(request, exc, link)
    ctx = {"site": link.site, "ticket": ticket, "back": services.link_page(link)}
    return render(request, "portal/wechat_consent.html", ctx)


@customer_page
@csrf_protect
@require_POST
def wechat_consent(request):
    """The customer's answer: "Send me updates…" links their WeChat; "Not now" records
    nothing and goes back to their page."""
    try:
        link, openid = services.wechat_consent_read(request.POST.get("ticket", ""))
    except ApplicationError as exc:
        return _wechat_problem(request, exc)
    back = services.link_page(link)
    if request.POST.get("answer") != "yes":
        return redirect(back)
    try:
        services.wechat_link(link=link, openid=openid)
    except ApplicationError as exc:
        return _wechat_problem(request, exc, link)
    return render(request, "portal/wechat_done.html", {"site": link.site, "back": back})


# --- staff: the customer's status link on the RO page ---------------------------------------
@require_POST
@role_required(Role.ADVISOR)
def staff_status_link(request, pk):
    """The advisor sends the customer a new status link (the old one stops working)."""
    try:
        ro = repair_order_get(user=request.user, pk=pk)
    except ApplicationError:
        raise Http404 from None
    _link_row, token = services.status_link_issue(repair_order=ro, actor=request.user)
    messages.success(
        request,
        _("A new status link was sent to the customer: %(url)s")
        % {"url": services.link_url(P.STATUS, token)},
    )
    return redirect("workorders:detail", pk=ro.pk)
