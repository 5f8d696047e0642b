"""Pages and htmx fragments: the follow-up desk and complaints. Views validate input, call a
service or selector and render; every view checks roles itself and reads only the current
site's rows."""

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from customers.models import Customer
from dms.audit import history
from dms.exceptions import ApplicationError
from dms.models import Role
from dms.permissions import has_role, role_required
from messaging.selectors import customer_messages, customer_replies
from outreach import services as outreach
from outreach.models import CallTask, TaskKind
from workorders.models import RepairOrder

from . import selectors, services
from .forms import (
    AssignForm,
    ComplaintOpenForm,
    DecideForm,
    NoteForm,
    OutcomeForm,
    ResolveForm,
)
from .models import ComplaintStatus

DESK_ROLES = (Role.FOLLOWUP_AGENT, Role.TECHNICIAN, Role.DISPATCHER, Role.ADVISOR)
COMPLAINT_ROLES = (Role.FOLLOWUP_AGENT, Role.ADVISOR)


def _task(request, pk) -> CallTask:
    try:
        return selectors.task_get(site=request.site, task_id=int(pk))
    except (CallTask.DoesNotExist, TypeError, ValueError):
        raise Http404 from None


def _panel_context(request, task, form=None, error=None) -> dict:
    reminder = task.kind in services.REMINDER_KINDS
    return {
        "task": task,
        "summary": selectors.visit_summary(task),
        "script": selectors.call_script(task),
        "form": form or OutcomeForm(reminder=reminder),
        "error": error,
        "is_advisor": request.user.pk == outreach.advisor_id(task)
        and task.kind in (TaskKind.FOLLOWUP, TaskKind.COMPLAINT_CONFIRM),
        "history": history(task),
        "customer": task.customer,
        "customer_messages": customer_messages(customer=task.customer),
        "customer_replies": customer_replies(customer=task.customer, limit=5),
    }


def _plate_html(plate: str) -> str:
    return f'<span class="plate">{escape(plate)}</span>'


_BADGE = {
    TaskKind.FOLLOWUP: "info",
    TaskKind.TECH_CALLBACK: "warn",
    TaskKind.COMPLAINT_CONFIRM: "warn",
}


def present_queue(rows: list[dict], *, kind: str, current: int | None, tz) -> str:
    """The queue's list items as one HTML fragment, built in Python with every value escaped
    (as the workshop board's cards): ~100 rows through the template engine were half of the
    desk's time in the load test."""
    labels = dict(TaskKind.choices)
    prefix, _marker, suffix = reverse("followups:task", args=[1]).rpartition("1")
    narrowed = f"&amp;kind={escape(kind)}" if kind else ""
    hx_narrowed = f"?kind={escape(kind)}" if kind else ""
    unassigned = f'<span class="badge">{escape(_("unassigned"))}</span>'
    warranty = f'<span class="badge ok">{escape(_("warranty"))}</span>'
    online = f'<span class="badge info">{escape(_("Answered online"))}</span>'
    by = escape(_("by"))
    here = ' aria-current="true"'
    out = []
    for row in rows:
        pk = row["pk"]
        plate = row["vehicle__plate"] or row["vehicle__vin"]
        data = row["data"] or {}
        attempts = row["attempts"]
        tries = ""
        if attempts:
            tries = " · " + escape(
                ngettext("%(n)s attempt", "%(n)s attempts", attempts) % {"n": attempts}
            )
        out.append(
            f'<li><a href="?task={pk}{narrowed}" hx-get="{prefix}{pk}{suffix}{hx_narrowed}" '
            f'hx-target="#call-panel" hx-swap="outerHTML" hx-push-url="?task={pk}{narrowed}"'
            f'{here if pk == current else ""} data-task="{pk}">'
            f"<strong>{escape(row['customer__name'])}</strong> "
            f"{_plate_html(plate) if plate else ''}<br>"
            f'<span class="badge {_BADGE.get(row["kind"], "")}">'
            f"{escape(labels.get(row['kind'], row['kind']))}</span>"
            f"{unassigned if row['assignee_id'] is None else ''}"
            f"{warranty if data.get('warranty') else ''}"
            f"{online if data.get('survey') else ''}"
            f'<div class="when">{by} '
            f"{timezone.localtime(row['due_until'], tz).strftime('%m-%d %H:%M')}{tries}</div>"
            "</a></li>"
        )
    return mark_safe("".join(out))  # noqa: S308 - every value above is escaped


def _render_desk(request, task=None, form=None, error=None, status=200):
    every = selectors.desk_queue(user=request.user, site=request.site)
    # the queue by kind: each kind's count, and the list narrowed to the chosen one
    kinds: dict[str, dict] = {}
    labels = dict(TaskKind.choices)
    for t in every:
        row = kinds.setdefault(t["kind"], {"kind": t["kind"], "label": labels[t["kind"]], "n": 0})
        row["n"] += 1
    kind = request.GET.get("kind", "")
    kind = kind if kind in kinds else ""
    tasks = [t for t in every if t["kind"] == kind] if kind else every
    if task is None and request.GET.get("task"):
        task = _task(request, request.GET["task"])
    if task is None and tasks:
        task = _task(request, tasks[0]["pk"])
    # "next call": the one after this in the (narrowed) queue
    ids = [t["pk"] for t in tasks]
    next_task = None
    if task is not None and tasks:
        i = ids.index(task.pk) + 1 if task.pk in ids else 0
        next_task = tasks[i] if i < len(tasks) and tasks[i]["pk"] != task.pk else None
    context = {
        "tasks": tasks,
        "queue": present_queue(
            tasks, kind=kind, current=task.pk if task else None, tz=request.site.tzinfo
        ),
        "kinds": sorted(kinds.values(), key=lambda k: str(k["label"])),
        "kind": kind,
        "all_count": len(every),
        "next_task": next_task,
        "surveys": list(
            selectors.surveys_answered(site=request.site, since=timezone.now() - timedelta(days=7))[
                :50
            ]
        ),
        "now": timezone.now(),
        **(_panel_context(request, task, form, error) if task else {}),
    }
    template = "followups/desk.html"
    if request.htmx and not request.htmx.boosted:
        # htmx swaps only 2xx answers: the refusal is shown in the panel it replaces
        template += "#panel"
        status = 200
    return render(request, template, context, status=status)


@role_required(*DESK_ROLES)
def desk(request):
    """My due calls in deadline order, with the selected call's summary, script and outcome."""
    return _render_desk(request)


@role_required(*DESK_ROLES)
def task_panel(request, pk):
    return _render_desk(request, task=_task(request, pk))


@require_POST
@role_required(*DESK_ROLES)
def task_outcome(request, pk):
    task = _task(request, pk)
    form = OutcomeForm(request.POST, reminder=task.kind in services.REMINDER_KINDS)
    if not form.is_valid():
        return _render_desk(request, task=task, form=form, status=400)
    try:
        services.call_task_record_outcome(task_id=task.pk, actor=request.user, **form.cleaned_data)
    except ApplicationError as exc:
        for field, errors in exc.fields.items():
            if field in form.fields:
                for message in errors:
                    form.add_error(field, message)
        return _render_desk(
            request, task=task, form=form, error=exc.message, status=exc.status_code
        )
    messages.success(request, _("Outcome recorded for %(name)s.") % {"name": task.customer.name})
    response = redirect("followups:desk")
    if request.htmx:
        response.status_code = 204
        response["HX-Redirect"] = reverse("followups:desk")
    return response


@require_POST
@role_required(*DESK_ROLES)
def task_take(request, pk):
    task = _task(request, pk)
    try:
        services.call_task_assign(task_id=task.pk, actor=request.user, assignee=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(f"{reverse('followups:desk')}?task={task.pk}")
    return redirect(f"{reverse('followups:desk')}?task={task.pk}")


# --- complaints --------------------------------------------------------------------------------
@role_required(*COMPLAINT_ROLES)
def complaints(request):
    status = request.GET.get("status") or None
    if status not in ComplaintStatus.values:
        status = None
    overdue = request.GET.get("overdue") == "1"
    rows = selectors.complaints_list(site_ids=[request.site.pk], status=status, overdue=overdue)
    if status is None and not overdue and request.GET.get("all") != "1":
        rows = rows.exclude(status=ComplaintStatus.CLOSED)
    return render(
        request,
        "followups/complaints.html",
        {
            "complaints": rows[:300],
            "summary": selectors.complaints_summary(site_ids=[request.site.pk]),
            "statuses": ComplaintStatus.choices,
            "status": status,
            "overdue": overdue,
            "now": timezone.now(),
        },
    )


@role_required(*COMPLAINT_ROLES)
def complaint_new(request):
    """Open a complaint: from the desk (a call), an inbound call, a letter or an authority."""
    site = request.site
    initial = {"customer": request.GET.get("customer"), "repair_order": request.GET.get("ro")}
    form = ComplaintOpenForm(request.POST if request.method == "POST" else None, initial=initial)
    customer_id = request.POST.get("customer") or request.GET.get("customer")
    customer = Customer.objects.filter(site=site, pk=customer_id).first() if customer_id else None
    ros = (
        RepairOrder.objects.filter(site=site, customer=customer).order_by("-opened_at")[:10]
        if customer
        else []
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        ro = RepairOrder.objects.filter(site=site, pk=data.get("repair_order")).first()
        try:
            complaint = services.complaint_open(
                site=site,
                actor=request.user,
                channel=data["channel"],
                customer=customer,
                repair_order=ro,
                description=data["description"],
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
            for field, errors in exc.fields.items():
                for message in errors:
                    form.add_error(field if field in form.fields else None, message)
        else:
            messages.success(request, _("Complaint #%(id)s opened.") % {"id": complaint.pk})
            return redirect("followups:complaint", pk=complaint.pk)
    return render(
        request,
        "followups/complaint_new.html",
        {"form": form, "customer": customer, "ros": ros},
        status=400 if request.method == "POST" else 200,
    )


def _complaint(request, pk):
    from .models import Complaint

    try:
        return selectors.complaint_get(site_ids=[request.site.pk], complaint_id=int(pk))
    except (Complaint.DoesNotExist, TypeError, ValueError):
        raise Http404 from None


@role_required(*COMPLAINT_ROLES)
def complaint_detail(request, pk):
    complaint = _complaint(request, pk)
    return _render_complaint(request, complaint)


def _render_complaint(request, complaint, forms=None, error=None, status=200):
    forms = forms or {}
    User = get_user_model()
    handlers = (
        User.objects.filter(
            staff_roles__site=request.site,
            staff_roles__role__in=[Role.FOLLOWUP_AGENT, Role.ADVISOR, Role.MANAGER],
            is_active=True,
        )
        .exclude(pk=complaint.advisor_id or 0)
        .distinct()
        .order_by("username")
    )
    return render(
        request,
        "followups/complaint_detail.html",
        {
            "c": complaint,
            "history": history(complaint),
            "is_manager": has_role(request.user, request.site, Role.MANAGER),
            "handlers": handlers,
            "note_form": forms.get("contact") or NoteForm(),
            "decide_form": forms.get("decide") or DecideForm(),
            "resolve_form": forms.get("resolve") or ResolveForm(),
            "error": error,
            "now": timezone.now(),
        },
        status=status,
    )


STEP_FORMS = {
    "assign": AssignForm,
    "contact": NoteForm,
    "decide": DecideForm,
    "resolve": ResolveForm,
}


@require_POST
@role_required(*COMPLAINT_ROLES)
def complaint_step(request, pk, step):
    complaint = _complaint(request, pk)
    form_class = STEP_FORMS.get(step)
    if form_class is None:
        raise Http404
    form = form_class(request.POST)
    if not form.is_valid():
        return _render_complaint(request, complaint, {step: form}, status=400)
    data = form.cleaned_data
    try:
        if step == "assign":
            User = get_user_model()
            handler = User.objects.filter(pk=data.get("handler") or request.user.pk).first()
            services.complaint_assign(
                complaint_id=complaint.pk, actor=request.user, handler=handler
            )
        elif step == "contact":
            services.complaint_contact(
                complaint_id=complaint.pk, actor=request.user, note=data["note"]
            )
        elif step == "decide":
            services.complaint_decide(
                complaint_id=complaint.pk,
                actor=request.user,
                decision=data["decision"],
                cause=data["cause"],
                apology=data["apology"],
                explanation=data["explanation"],
                rework_start=data["rework_start"],
                rework_hours=data["rework_hours"] or 1,
                remedy_cost=data["remedy_cost"] or 0,
                free_inspection=data["free_inspection"],
                labour_discount=data["labour_discount"] or 0,
            )
        else:
            services.complaint_resolve(
                complaint_id=complaint.pk, actor=request.user, resolution=data["resolution"]
            )
    except ApplicationError as exc:
        for field, errors in exc.fields.items():
            if field in form.fields:
                for message in errors:
                    form.add_error(field, message)
        return _render_complaint(
            request,
            _complaint(request, pk),
            {step: form},
            error=exc.message,
            status=exc.status_code,
        )
    messages.success(request, _("Saved."))
    return redirect("followups:complaint", pk=complaint.pk)
