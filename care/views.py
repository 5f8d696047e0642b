"""Pages of proactive care: due this month (with CSV export), first-service capture, the rules.

Views validate input, call a selector or service and render; every view checks the role itself
and reads only the current site's rows.
"""

from datetime import timedelta

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from dms.exceptions import ApplicationError
from dms.exports import csv_response
from dms.models import Role
from dms.permissions import has_role, role_required
from outreach.models import CallTask

from . import selectors, services
from .forms import BookForm, MonthForm, SinceForm
from .models import ReminderRun

DESK_ROLES = (Role.FOLLOWUP_AGENT, Role.ADVISOR)


def _today(site):
    return timezone.localdate(timezone=site.tzinfo)


def _month_filter(request):
    form = MonthForm(request.GET or None)
    today = _today(request.site)
    if form.is_bound and not form.is_valid():
        return form, today.replace(day=1), "", False
    data = form.cleaned_data if form.is_bound else {}
    return form, data.get("month") or today.replace(day=1), data.get("status") or "", True


DUE_PAGE_SIZE = 100


@role_required(*DESK_ROLES)
def due_this_month(request):
    """Seed 001: lock this month's maintenance customers — who was contacted, who booked."""
    form, month, status, ok = _month_filter(request)
    rows = selectors.due_this_month(site=request.site, month=month, today=_today(request.site))
    counts = selectors.due_counts(rows)
    shown = [r for r in rows if not status or r.status == status]
    # a busy month is well over a thousand cars: the counts cover them all, the table a page
    page = Paginator(shown, DUE_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "form": form,
        "month": month,
        "previous": (month - timedelta(days=1)).replace(day=1),
        "next": (month + timedelta(days=32)).replace(day=1),
        "rows": page.object_list,
        "page": page,
        "counts": counts,
        "status": status,
        "statuses": selectors.DueStatus.labels,
        "book_form": BookForm(),
        "perms_manager": has_role(request.user, request.site, Role.MANAGER),
    }
    return render(request, "care/due_this_month.html", context, status=200 if ok else 400)


@role_required(*DESK_ROLES)
def due_this_month_csv(request):
    """The same list as CSV, streamed row by row."""
    form, month, status, ok = _month_filter(request)
    if not ok:
        return render(
            request,
            "care/due_this_month.html",
            {"form": form, "month": month, "rows": [], "counts": {}},
            status=400,
        )
    site = request.site

    def lines():
        yield (
            [
                _("Plate"),
                _("VIN"),
                _("Customer"),
                _("Phone"),
                _("Due on"),
                _("Due"),
                _("Due at km"),
                _("Projected km"),
                _("Status"),
                _("Task"),
                _("Appointment"),
            ]
        )
        for r in selectors.due_this_month(site=site, month=month, today=_today(site)):
            if status and r.status != status:
                continue
            yield (
                [
                    r.vehicle.plate,
                    r.vehicle.vin,
                    r.customer.name,
                    r.customer.phone,
                    r.due.due_on.isoformat(),
                    r.due.reason_label,
                    r.due.due_km or "",
                    r.due.projected_km,
                    r.status_label,
                    r.task.get_status_display() if r.task else "",
                    timezone.localtime(r.appointment.start, site.tzinfo).strftime("%Y-%m-%d %H:%M")
                    if r.appointment
                    else "",
                ]
            )

    return csv_response(f"due-{month:%Y-%m}.csv", lines())


@role_required(*DESK_ROLES)
def first_service(request):
    """Seed 001: new cars sold here, their first-service date, which came, which are overdue."""
    today = _today(request.site)
    form = SinceForm(request.GET or None)
    ok = not form.is_bound or form.is_valid()
    since = (form.cleaned_data.get("since") if form.is_bound and ok else None) or today.replace(
        year=today.year - 1, day=1
    )
    rows = selectors.first_service_capture(site=request.site, today=today, sold_since=since)
    came, due = selectors.capture_rate(rows, today=today)
    counts = {k: sum(1 for r in rows if r.status == k) for k in selectors.FirstServiceStatus.labels}
    return render(
        request,
        "care/first_service.html",
        {
            "form": form,
            "since": since,
            "rows": rows,
            "counts": counts,
            "labels": selectors.FirstServiceStatus.labels,
            "came": came,
            "due": due,
            "rate": round(100 * came / due) if due else None,
            "perms_manager": has_role(request.user, request.site, Role.MANAGER),
        },
        status=200 if ok else 400,
    )


@require_POST
@role_required(*DESK_ROLES)
def book(request, task_id: int):
    """One step from a care task to an appointment (source proactive)."""
    back = request.POST.get("next") or reverse("care:due_this_month")
    if not back.startswith("/"):
        back = reverse("care:due_this_month")
    if not CallTask.objects.filter(pk=task_id, site=request.site).exists():
        return render(request, "404.html", status=404)
    form = BookForm(request.POST)
    if not form.is_valid():
        for field, errors in form.errors.items():
            messages.error(request, f"{form.fields[field].label}: {' '.join(errors)}")
        return HttpResponseRedirect(back)
    try:
        appointment = services.book_from_task(
            task_id=task_id,
            actor=request.user,
            start=form.cleaned_data["start"],
            notes=form.cleaned_data["notes"],
        )
    except ApplicationError as exc:
        details = "; ".join(" ".join(v) for v in exc.fields.values())
        messages.error(request, f"{exc.message} {details}".strip())
        return HttpResponseRedirect(back)
    messages.success(
        request,
        _("Booked %(plate)s for %(time)s with %(advisor)s.")
        % {
            "plate": appointment.vehicle.plate,
            "time": timezone.localtime(appointment.start, request.site.tzinfo).strftime(
                "%Y-%m-%d %H:%M"
            ),
            "advisor": appointment.advisor.get_full_name() or appointment.advisor.username,
        },
    )
    return HttpResponseRedirect(back)


@role_required(Role.MANAGER)
def rules(request):
    """The site's reminder rules and the last nightly runs (edit in the admin or the API)."""
    return render(
        request,
        "care/rules.html",
        {
            "rules": services.rules_ensure(site=request.site),
            "runs": ReminderRun.objects.filter(site=request.site)[:10],
        },
    )


@require_POST
@role_required(Role.MANAGER)
def run_now(request):
    run = services.run_reminder_rules(site=request.site)
    messages.success(
        request, _("Reminder rules ran: %(n)s new task(s).") % {"n": run.created_total}
    )
    return HttpResponseRedirect(reverse("care:rules"))
