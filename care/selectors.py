"""Reads of proactive care: the due-this-month list with each customer's contact status, the
first-service capture list and the care outcomes for the KPI dashboard.

When a vehicle's service falls due (by date or by the mileage projected from its history, first
service included) is the archive's one rule, `customers.service_due`; the due list reads the
vehicles it stores as due in the month (`customers.selectors.due_this_month`), the list the
archive and the KPI tile show too. The months and km of a site's first service are its
first-service reminder rule, which this app registers with the archive
(`first_service_figures`), so the stored due day, the due list, the first-service list and the
nightly run all count from the same figures.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from appointments.models import ACTIVE_STATUSES, Appointment
from customers import selectors as archive
from customers.models import Vehicle
from customers.service_due import (
    FirstServiceFigures,
    ServiceDue,
    add_months,
    first_service_pending,
    first_service_rule,
    month_bounds,
    service_due,
    with_history,
)
from dms.models import Site
from outreach.models import CallTask, TaskKind, TaskStatus
from workorders.models import RepairOrder, ROStatus

from .models import ReminderRule, RuleKind


# --- the site's first-service rule, for the archive --------------------------------------------
def first_service_figures(site_id: int) -> FirstServiceFigures:
    """(months, km) of the site's first-service rule, None without one: registered with the
    archive (`customers.service_due.register_first_service_rule`), which falls back to its
    defaults for a missing figure. The figures count whether the reminder is switched on or not:
    they say when the first service is due, the switch only whether care calls about it."""
    return (
        ReminderRule.objects.filter(site_id=site_id, kind=RuleKind.FIRST_SERVICE)
        .values_list("interval_months", "interval_km")
        .first()
    )


# --- due this month ----------------------------------------------------------------------------
class DueStatus:
    BOOKED = "booked"
    CONTACTED = "contacted"
    NOT_YET = "not_yet"

    labels = {
        BOOKED: _("Booked / came"),
        CONTACTED: _("Contacted"),
        NOT_YET: _("Not yet"),
    }
    badges = {BOOKED: "ok", CONTACTED: "info", NOT_YET: "warn"}


CONTACTED_STATUSES = (TaskStatus.DONE, TaskStatus.SENT, TaskStatus.UNREACHABLE)


@dataclass
class DueRow:
    due: ServiceDue
    status: str
    task: CallTask | None = None
    appointment: Appointment | None = None

    @property
    def vehicle(self) -> Vehicle:
        return self.due.vehicle

    @property
    def customer(self):
        return self.due.vehicle.owner

    @property
    def status_label(self) -> str:
        return str(DueStatus.labels[self.status])

    @property
    def badge(self) -> str:
        return DueStatus.badges[self.status]


def due_this_month(*, site: Site, month: date, today: date | None = None) -> list[DueRow]:
    """Vehicles whose service (maintenance or first service) falls due in `month` (the archive's
    one rule, `customers.selectors.due_this_month`), each with the reason and the mileage, and
    whether the customer has been contacted, has booked (or came), or not yet.

    A fixed number of queries whatever the number of vehicles: the vehicles due with their
    history, then appointments, repair orders and care tasks of those vehicles.
    """
    first_day, _last_day = month_bounds(month)
    today = today or first_day
    rule = first_service_rule(site.pk)
    vehicles = with_history(archive.due_this_month(site_ids=[site.pk], month=month))
    dues = [
        d
        for d in (service_due(v, today=today, first_service=rule) for v in vehicles)
        if d is not None
    ]
    ids = [d.vehicle.pk for d in dues]
    since = first_day - timedelta(days=60)
    appointments: dict[int, Appointment] = {}
    for a in Appointment.objects.filter(
        vehicle_id__in=ids, status__in=ACTIVE_STATUSES, day__gte=since
    ).order_by("start"):
        appointments.setdefault(a.vehicle_id, a)
    came = set(
        RepairOrder.objects.filter(vehicle_id__in=ids, opened_day__gte=first_day - timedelta(30))
        .exclude(status=ROStatus.CANCELLED)
        .values_list("vehicle_id", flat=True)
    )
    tasks: dict[int, CallTask] = {}
    for t in (
        CallTask.objects.filter(
            vehicle_id__in=ids,
            kind__in=(TaskKind.MAINTENANCE_DUE, TaskKind.FIRST_SERVICE),
            due_at__date__gte=since,
        )
        .select_related("appointment_link")
        .order_by("due_at")
    ):
        tasks[t.vehicle_id] = t  # the latest one
    rows = []
    for d in dues:
        vid = d.vehicle.pk
        task = tasks.get(vid)
        appointment = appointments.get(vid)
        if appointment or vid in came:
            status = DueStatus.BOOKED
        elif task and (task.status in CONTACTED_STATUSES or task.attempts > 0):
            status = DueStatus.CONTACTED
        else:
            status = DueStatus.NOT_YET
        rows.append(DueRow(due=d, status=status, task=task, appointment=appointment))
    rows.sort(key=lambda r: (r.due.due_on, r.vehicle.plate))
    return rows


def due_counts(rows: Iterable[DueRow]) -> dict[str, int]:
    counts = {DueStatus.BOOKED: 0, DueStatus.CONTACTED: 0, DueStatus.NOT_YET: 0}
    for r in rows:
        counts[r.status] += 1
    counts["total"] = sum(counts.values())
    return counts


# --- first-service capture ---------------------------------------------------------------------
class FirstServiceStatus:
    CAME = "came"
    OVERDUE = "overdue"
    DUE_SOON = "due_soon"
    UPCOMING = "upcoming"

    labels = {
        CAME: _("Came"),
        OVERDUE: _("Overdue"),
        DUE_SOON: _("Due within 30 days"),
        UPCOMING: _("Upcoming"),
    }
    badges = {CAME: "ok", OVERDUE: "bad", DUE_SOON: "warn", UPCOMING: "info"}


@dataclass
class FirstServiceRow:
    vehicle: Vehicle
    due_on: date | None
    status: str
    came_on: date | None = None
    task: CallTask | None = None

    @property
    def status_label(self) -> str:
        return str(FirstServiceStatus.labels[self.status])

    @property
    def badge(self) -> str:
        return FirstServiceStatus.badges[self.status]


def first_service_capture(*, site: Site, today: date, sold_since: date) -> list[FirstServiceRow]:
    """New cars sold by the site since `sold_since`: which came for the first service, which
    are overdue, which are due soon (by the site's first-service rule). A fixed number of
    queries."""
    rule = first_service_rule(site.pk)
    vehicles = list(
        with_history(
            Vehicle.objects.filter(
                site=site, sold_by_site=True, purchase_date__gte=sold_since
            ).filter(Q(owner__merged_into__isnull=True))
        ).order_by("purchase_date", "id")
    )
    ids = [v.pk for v in vehicles]
    came_on = dict(
        RepairOrder.objects.filter(vehicle_id__in=ids, is_first_service=True)
        .exclude(status=ROStatus.CANCELLED)
        .order_by("-opened_day")
        .values_list("vehicle_id", "opened_day")
    )
    tasks = {
        t.vehicle_id: t
        for t in CallTask.objects.filter(vehicle_id__in=ids, kind=TaskKind.FIRST_SERVICE)
    }
    rows = []
    for v in vehicles:
        due_on = v.next_service_due_date if first_service_pending(v) else None
        due_on = due_on or add_months(v.purchase_date, rule.months)
        if not first_service_pending(v):
            status = FirstServiceStatus.CAME
        else:
            d = service_due(v, today=today, first_service=rule)
            due_on = d.due_on if d else due_on
            if due_on < today:
                status = FirstServiceStatus.OVERDUE
            elif due_on <= today + timedelta(days=30):
                status = FirstServiceStatus.DUE_SOON
            else:
                status = FirstServiceStatus.UPCOMING
        rows.append(
            FirstServiceRow(
                vehicle=v,
                due_on=due_on,
                status=status,
                came_on=came_on.get(v.pk),
                task=tasks.get(v.pk),
            )
        )
    return rows


def capture_rate(rows: Iterable[FirstServiceRow], *, today: date) -> tuple[int, int]:
    """(came, due): first services done among the cars whose first service is already due."""
    due = [
        r for r in rows if r.status == FirstServiceStatus.CAME or (r.due_on and r.due_on <= today)
    ]
    return sum(1 for r in due if r.status == FirstServiceStatus.CAME), len(due)


# --- outcomes (for the KPI dashboard) ----------------------------------------------------------
def care_outcomes(*, site_ids: list[int], start: date, end: date) -> dict[str, dict[str, int]]:
    """Per care kind, the reminders due in [start, end] (site-local days) and how many of them
    became an appointment (booked from the task). "declined_work" → booked is the count of
    declined work recovered. Two queries."""
    from django.db.models import Count

    from .models import CARE_KINDS

    base = CallTask.objects.filter(
        site_id__in=site_ids,
        kind__in=CARE_KINDS,
        due_at__date__gte=start,
        due_at__date__lte=end,
    ).exclude(status=TaskStatus.CANCELLED, appointment__isnull=True)
    out = {k: {"reminders": 0, "booked": 0} for k in CARE_KINDS}
    for row in base.values("kind").annotate(n=Count("id")):
        out[row["kind"]]["reminders"] = row["n"]
    for row in base.filter(appointment__isnull=False).values("kind").annotate(n=Count("id")):
        out[row["kind"]]["booked"] = row["n"]
    return out
