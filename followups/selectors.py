"""Reads for the follow-up desk, complaints and reports."""

from datetime import datetime

from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from appointments.models import appointment_of
from customers.selectors import Visit
from dms.models import Role, Site
from dms.names import person_name
from dms.permissions import has_role
from outreach.models import CallOutcome, CallTask, TaskKind, TaskStatus
from workorders.models import JobLine, RepairOrder, repair_order_of

from .models import Complaint, ComplaintStatus
from .services import caller_roles


def _task_qs() -> QuerySet[CallTask]:
    return CallTask.objects.select_related(
        "customer",
        "vehicle",
        "repair_order_link__repair_order__advisor",
        "appointment_link__appointment",
        "assignee",
    )


def desk_tasks(*, user, site) -> QuerySet[CallTask]:
    """My open calls in deadline order, plus unassigned ones I may make (agents pick them)."""
    kinds = [k for k in TaskKind.values if has_role(user, site, *caller_roles(k))]
    mine = Q(assignee=user)
    if has_role(user, site, Role.FOLLOWUP_AGENT):
        mine |= Q(assignee__isnull=True, kind__in=kinds)
    return (
        _task_qs()
        .filter(site=site, status=TaskStatus.OPEN, channel="call")
        .filter(mine)
        .order_by("due_until", "id")
    )


DESK_QUEUE_SIZE = 200


def desk_queue(*, user, site) -> list[dict]:
    """The desk's queue as rows of the few fields its list shows (`desk_tasks`' order, at
    most DESK_QUEUE_SIZE): building 200 call tasks with five joined rows each as model
    instances cost more than the page's queries; the selected call is read in full apart."""
    rows = list(
        desk_tasks(user=user, site=site).values(
            "id",
            "kind",
            "assignee_id",
            "due_until",
            "attempts",
            "data",
            "customer__name",
            "vehicle__plate",
            "vehicle__vin",
        )[:DESK_QUEUE_SIZE]
    )
    for row in rows:
        row["pk"] = row["id"]
    return rows


def call_tasks_for(*, user, site, mine: bool = True) -> QuerySet[CallTask]:
    qs = _task_qs().filter(site=site)
    if mine and not has_role(user, site, Role.MANAGER):
        qs = qs.filter(assignee=user)
    return qs


def task_get(*, site, task_id) -> CallTask:
    lines = Prefetch(
        "repair_order_link__repair_order__lines",
        queryset=JobLine.objects.select_related("technician").order_by("position", "id"),
    )
    task = _task_qs().prefetch_related(lines).get(site=site, pk=task_id)
    if isinstance(site, Site):
        task.site = site  # the row the request already has: the call script needs no query for it
    return task


def display_name(user) -> str:
    return person_name(user)


def visit_summary(task: CallTask) -> dict:
    ro = repair_order_of(task)
    if ro is None:
        return {}
    lines = list(ro.lines.all())
    return {
        "number": ro.number,
        "delivered_at": ro.delivered_at,
        "advisor": display_name(ro.advisor),
        "concern": ro.concern,
        "jobs": [line.description for line in lines if line.approval != "declined"],
        "declined": [line.description for line in lines if line.approval == "declined"],
        "technicians": sorted({display_name(line.technician) for line in lines if line.technician}),
        "total": ro.grand_total,
    }


def call_script(task: CallTask) -> list[str]:
    """The call script in the active language: open questions first (seed 000), no technical
    questions the caller cannot judge; a symptom is written down and routed to the workshop."""
    name = task.customer.name
    ro = repair_order_of(task)
    appointment = appointment_of(task)
    if task.kind == TaskKind.FOLLOWUP and ro is not None:
        day = timezone.localtime(ro.delivered_at or ro.updated_at, task.site.tzinfo)
        return [
            _(
                "Hello %(name)s, this is %(site)s customer service. Is now a good time for two minutes?"
            )
            % {"name": name, "site": task.site.name},
            _("How has the car been since your visit on %(day)s?") % {"day": f"{day:%Y-%m-%d}"},
            _(
                "How did you find the service that day — the reception, the waiting, the explanation of the bill?"
            ),
            _("Is there anything we could have done better?"),
            _("On a scale of 1 to 5, how satisfied are you with this visit?"),
            _(
                "If the customer describes a symptom (noise, warning light, leak…), write it down in their words and tick “reports a technical problem” — a technician will call back. Do not judge it yourself."
            ),
        ]
    if task.kind in (TaskKind.REMINDER_DAY_BEFORE, TaskKind.REMINDER_SOON) and appointment:
        start = timezone.localtime(appointment.start, task.site.tzinfo)
        return [
            _("Hello %(name)s, this is %(site)s.") % {"name": name, "site": task.site.name},
            _("We are looking forward to seeing you on %(when)s for your %(vehicle)s.")
            % {"when": f"{start:%Y-%m-%d %H:%M}", "vehicle": task.vehicle or ""},
            _("Does the time still suit you? If not, when would suit you better?"),
        ]
    if task.kind == TaskKind.COMPLAINT_CONFIRM:
        return [
            _("Hello %(name)s, this is %(site)s customer service.")
            % {"name": name, "site": task.site.name},
            _("We followed up on the problem you told us about. How do things stand now?"),
            _("Are you satisfied with how we handled it?"),
        ]
    if task.kind == TaskKind.TECH_CALLBACK:
        return [
            _(
                "Hello %(name)s, I am calling from the workshop about what you told our customer service."
            )
            % {"name": name},
            _("Reported: %(note)s") % {"note": task.message},
            _("Ask when and how it happens; offer an inspection appointment if needed."),
        ]
    return [
        _("Hello %(name)s, this is %(site)s.") % {"name": name, "site": task.site.name},
        task.message or task.get_kind_display(),
    ]


def complaints_list(
    *, site_ids, status: str | None = None, overdue: bool | None = None, now: datetime | None = None
) -> QuerySet[Complaint]:
    now = now or timezone.now()
    qs = Complaint.objects.filter(site_id__in=site_ids).select_related(
        "customer", "vehicle", "repair_order", "advisor", "handler"
    )
    if status:
        qs = qs.filter(status=status)
    if overdue:
        qs = complaints_overdue(qs, now)
    return qs.order_by("respond_by", "id")


def complaints_overdue(qs: QuerySet[Complaint], now: datetime | None = None) -> QuerySet[Complaint]:
    """The complaints not contacted in time (still open or assigned after `respond_by`)."""
    return qs.filter(
        status__in=(ComplaintStatus.OPEN, ComplaintStatus.ASSIGNED),
        respond_by__lt=now or timezone.now(),
    )


def complaint_get(*, site_ids, complaint_id) -> Complaint:
    return (
        Complaint.objects.select_related(
            "customer",
            "vehicle",
            "repair_order",
            "advisor",
            "handler",
            "rework_appointment",
            "site",
        )
        .prefetch_related("technicians")
        .get(site_id__in=site_ids, pk=complaint_id)
    )


def complaints_summary(*, site_ids, now: datetime | None = None) -> dict:
    """Counts for the dashboard: open, overdue (not contacted in time), and by cause."""
    now = now or timezone.now()
    qs = Complaint.objects.filter(site_id__in=site_ids)
    totals = qs.aggregate(
        open=Count("id", filter=~Q(status=ComplaintStatus.CLOSED)),
        overdue=Count(
            "id",
            filter=Q(
                status__in=(ComplaintStatus.OPEN, ComplaintStatus.ASSIGNED), respond_by__lt=now
            ),
        ),
        closed=Count("id", filter=Q(status=ComplaintStatus.CLOSED)),
    )
    totals["by_cause"] = dict(
        qs.exclude(cause="").values_list("cause").annotate(n=Count("id")).order_by()
    )
    return totals


def surveys_answered(*, site, since: datetime):
    """Follow-ups the customers completed online since `since`, newest first (the agent's desk;
    read through the index of completed follow-ups). An online answer that still needs the call
    (warranty) stays in the call queue instead, marked as answered online."""
    return (
        CallTask.objects.filter(
            site=site,
            kind=TaskKind.FOLLOWUP,
            status=TaskStatus.DONE,
            completed_at__gte=since,
            data__channel="online",
        )
        .select_related("customer", "vehicle", "repair_order_link__repair_order")
        .order_by("-completed_at", "-id")
    )


# --- what the customer archive shows of each visit (registered in apps.py) --------------------
def vehicle_visits(vehicle) -> list[Visit]:
    """Every visit of a vehicle, newest first: date, mileage, advisor, lines (with parts),
    amount, the follow-up call's result and complaints. A fixed number of queries."""
    ros = list(
        RepairOrder.objects.filter(vehicle=vehicle)
        .select_related("advisor")
        .prefetch_related(
            Prefetch(
                "lines",
                queryset=JobLine.objects.select_related("technician")
                .prefetch_related("parts")
                .order_by("position", "id"),
            ),
            Prefetch(
                "call_tasks",
                queryset=CallTask.objects.filter(kind=TaskKind.FOLLOWUP).order_by("-id"),
                to_attr="followup_tasks",
            ),
        )
        .order_by("-opened_at", "-id")
    )
    outcomes = dict(CallOutcome.choices)
    complaints: dict[int, list] = {}
    if ros:
        cond = Q(repair_order__in=[r.pk for r in ros]) | Q(vehicle=vehicle)
        for c in Complaint.objects.filter(cond).order_by("-pk"):
            complaints.setdefault(c.repair_order_id, []).append(c)
    visits = []
    for ro in ros:
        for task in ro.followup_tasks:  # the outcome code as the page shows it
            task.outcome_label = str(outcomes.get(task.outcome, task.outcome))
        when = ro.delivered_at or ro.opened_at
        day = timezone.localtime(when).date() if when else ro.opened_day
        visits.append(
            Visit(
                repair_order=ro,
                date=day,
                mileage_km=ro.odometer_km,
                advisor=ro.advisor,
                lines=list(ro.lines.all()),
                amount=ro.grand_total,
                status=ro.status,
                followup=ro.followup_tasks[0] if ro.followup_tasks else None,
                complaints=complaints.get(ro.pk, []),
            )
        )
    return visits
