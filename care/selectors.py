"""Reads of proactive care: mileage projection, when a vehicle's service falls due, the
due-this-month list and the first-service capture list.

Mileage is projected from the vehicle's own history: its readings are the purchase (0 km, for a
new car sold by the site), the first and last odometer on its repair orders, the first and last
mileage reading of the archive (desk, intake, import) and the vehicle's current reading. The
daily rate is the distance between the oldest and the newest reading divided by the days between
them; with less than `MIN_SPAN_DAYS` of history the default rate is used. A reading lower than
an earlier one (a typo, a replaced instrument cluster) is left out of the rate, and every projected
day is bounded (`MAX_PROJECTION_DAYS`, `date.min`/`date.max`), so no stored value can make a
page fail.
"""

import calendar
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.utils.translation import gettext_lazy as _

from appointments.models import ACTIVE_STATUSES, Appointment
from customers.models import MileageReading, Vehicle
from dms.models import Site
from outreach.models import CallTask, TaskKind, TaskStatus
from workorders.models import RepairOrder, ROStatus

DEFAULT_KM_PER_DAY = 40.0  # about 14 600 km a year, a typical private car in China
MIN_SPAN_DAYS = 30
FIRST_SERVICE_MONTHS = 3
FIRST_SERVICE_KM = 5000
MAX_PROJECTION_DAYS = 100 * 366  # a projection further away than this is "never"


def shift(day: date, days: float) -> date:
    """`day` plus `days`, bounded: at most `MAX_PROJECTION_DAYS` away and within the calendar."""
    days = max(-MAX_PROJECTION_DAYS, min(MAX_PROJECTION_DAYS, int(days)))
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return date.max if days > 0 else date.min


def add_months(day: date, months: int) -> date:
    """`day` plus calendar months, clamped to the month's last day (31 Jan + 1 → 28/29 Feb) and
    to the calendar."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    if year > date.max.year:
        return date.max
    if year < date.min.year:
        return date.min
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def month_bounds(month: date) -> tuple[date, date]:
    first = month.replace(day=1)
    return first, first.replace(day=calendar.monthrange(first.year, first.month)[1])


# --- mileage projection ------------------------------------------------------------------------
@dataclass(frozen=True, order=True)
class Reading:
    day: date
    km: int


def _usable(readings: Iterable[Reading]) -> list[Reading]:
    """The readings by day, without those lower than an earlier one (an odometer only goes up)."""
    points, highest = [], -1
    for r in sorted(r for r in readings if r.day is not None and r.km is not None):
        if r.km >= highest:
            points.append(r)
            highest = r.km
    return points


def km_per_day(readings: Iterable[Reading]) -> float:
    """Average daily distance between the oldest and the newest reading (of those that do not
    go back)."""
    points = _usable(readings)
    if len(points) < 2:
        return DEFAULT_KM_PER_DAY
    oldest, newest = points[0], points[-1]
    span = (newest.day - oldest.day).days
    if span < MIN_SPAN_DAYS or newest.km <= oldest.km:
        return DEFAULT_KM_PER_DAY
    return (newest.km - oldest.km) / span


def project(readings: Iterable[Reading], on: date) -> int:
    """The odometer expected on `on`: the newest reading plus the daily rate since then."""
    points = _usable(readings)
    if not points:
        return 0
    newest = max(points)  # the latest day
    best_km = max(r.km for r in points)  # an odometer never goes back
    days = (on - newest.day).days
    return best_km + (round(km_per_day(points) * days) if days > 0 else 0)


def day_reaching(readings: Iterable[Reading], km: int, *, today: date) -> date:
    """The first day the projected odometer reaches `km`; for a mileage already passed, the day
    it was passed at the same rate."""
    points = _usable(readings)
    if not points:
        return shift(today, math.ceil(km / DEFAULT_KM_PER_DAY))
    newest = max(points)
    best_km = max(r.km for r in points)
    rate = km_per_day(points)
    if best_km >= km:  # already passed: when it was reached, at the same rate
        return shift(newest.day, -math.floor((best_km - km) / rate))
    return shift(newest.day, math.ceil((km - best_km) / rate))


def _readings_of(v) -> list[Reading]:
    """Readings of a vehicle annotated by `with_history()`."""
    points = []
    if v.sold_by_site and v.purchase_date:
        points.append(Reading(v.purchase_date, 0))
    if v.first_ro_day and v.first_ro_km is not None:
        points.append(Reading(v.first_ro_day, v.first_ro_km))
    if v.last_ro_day and v.last_ro_km is not None:
        points.append(Reading(v.last_ro_day, v.last_ro_km))
    if v.first_mr_day and v.first_mr_km is not None:
        points.append(Reading(v.first_mr_day, v.first_mr_km))
    if v.last_mr_day and v.last_mr_km is not None:
        points.append(Reading(v.last_mr_day, v.last_mr_km))
    if v.mileage_read_at and v.mileage_km:
        points.append(Reading(v.mileage_read_at, v.mileage_km))
    return points


def with_history(qs: QuerySet[Vehicle]) -> QuerySet[Vehicle]:
    """Annotate vehicles with their first and last odometer reading and their last service, in
    one query (correlated subqueries, no per-row queries)."""
    with_km = RepairOrder.objects.filter(vehicle=OuterRef("pk"), odometer_km__isnull=False).exclude(
        status=ROStatus.CANCELLED
    )
    first = with_km.order_by("opened_day", "id")
    last = with_km.order_by("-opened_day", "-id")
    delivered = RepairOrder.objects.filter(
        vehicle=OuterRef("pk"), status=ROStatus.DELIVERED
    ).order_by("-delivered_day", "-id")
    first_service_ro = RepairOrder.objects.filter(vehicle=OuterRef("pk"), is_first_service=True)
    readings = MileageReading.objects.filter(vehicle=OuterRef("pk"))
    first_mr = readings.order_by("read_on", "id")
    last_mr = readings.order_by("-read_on", "-id")
    return qs.annotate(
        first_mr_day=Subquery(first_mr.values("read_on")[:1]),
        first_mr_km=Subquery(first_mr.values("km")[:1]),
        last_mr_day=Subquery(last_mr.values("read_on")[:1]),
        last_mr_km=Subquery(last_mr.values("km")[:1]),
        first_ro_day=Subquery(first.values("opened_day")[:1]),
        first_ro_km=Subquery(first.values("odometer_km")[:1]),
        last_ro_day=Subquery(last.values("opened_day")[:1]),
        last_ro_km=Subquery(last.values("odometer_km")[:1]),
        last_service_day=Subquery(delivered.values("delivered_day")[:1]),
        last_service_km=Subquery(delivered.values("odometer_km")[:1]),
        first_service_seen=Exists(first_service_ro.exclude(status=ROStatus.CANCELLED)),
    ).select_related("owner")


def projected_mileage(*, vehicle: Vehicle, on: date) -> int:
    """The odometer expected on `on` from the vehicle's history (one query)."""
    v = with_history(Vehicle.objects.filter(pk=vehicle.pk)).get()
    return project(_readings_of(v), on)


# --- when is a service due ---------------------------------------------------------------------
class DueReason:
    DATE = "date"
    KM = "km"
    FIRST = "first_service"

    labels = {
        DATE: _("by date"),
        KM: _("by mileage"),
        FIRST: _("first service"),
    }


@dataclass
class ServiceDue:
    vehicle: Vehicle
    due_on: date
    reason: str
    due_km: int | None
    projected_km: int
    first_service: bool
    cycle: str  # identifies the service cycle: a new one starts with each delivered service
    extra: dict = field(default_factory=dict)

    @property
    def reason_label(self) -> str:
        return str(DueReason.labels[self.reason])


def first_service_pending(v) -> bool:
    """A new car sold by the site that has not yet come for its first service."""
    return bool(v.sold_by_site and not v.first_service_done and not v.first_service_seen)


def service_due(
    v, *, today: date, first_months: int | None = None, first_km: int | None = None
) -> ServiceDue | None:
    """When the next service of an annotated vehicle (`with_history`) falls due: by date or by
    projected mileage, whichever comes first. None when nothing is known about the vehicle."""
    readings = _readings_of(v)
    projected = project(readings, today)
    if first_service_pending(v):
        months = first_months or FIRST_SERVICE_MONTHS
        km = first_km or FIRST_SERVICE_KM
        by_date = v.next_service_due_date or (
            add_months(v.purchase_date, months) if v.purchase_date else None
        )
        by_km = day_reaching(readings, km, today=today) if v.purchase_date else None
        return _first_of(v, by_date, by_km, km, projected, first=True, cycle="first")

    months = v.service_interval_months or 6
    interval_km = v.service_interval_km or 10000
    base_day = v.last_service_day or v.purchase_date
    by_date = v.next_service_due_date or (add_months(base_day, months) if base_day else None)
    if v.next_service_due_km:
        due_km = v.next_service_due_km
    elif v.last_service_km is not None:
        due_km = v.last_service_km + interval_km
    elif readings:
        due_km = (max(r.km for r in readings) // interval_km + 1) * interval_km
    else:
        due_km = None
    by_km = day_reaching(readings, due_km, today=today) if due_km and readings else None
    cycle = v.last_service_day.isoformat() if v.last_service_day else "0"
    return _first_of(v, by_date, by_km, due_km, projected, first=False, cycle=cycle)


def _first_of(v, by_date, by_km, due_km, projected, *, first, cycle) -> ServiceDue | None:
    if by_date is None and by_km is None:
        return None
    if by_km is not None and (by_date is None or by_km < by_date):
        due_on, reason = by_km, DueReason.KM
    else:
        due_on, reason = by_date, DueReason.DATE
    if first:
        reason = DueReason.FIRST if reason == DueReason.DATE else DueReason.KM
    return ServiceDue(
        vehicle=v,
        due_on=due_on,
        reason=reason,
        due_km=due_km,
        projected_km=projected,
        first_service=first,
        cycle=cycle,
    )


def iter_service_due(
    *, site: Site, today: date, first_months=None, first_km=None
) -> Iterator[ServiceDue]:
    """Every vehicle of the site with its next service due (streamed in chunks)."""
    qs = with_history(Vehicle.objects.filter(site=site, owner__merged_into__isnull=True))
    for v in qs.order_by("id").iterator(chunk_size=2000):
        due = service_due(v, today=today, first_months=first_months, first_km=first_km)
        if due is not None:
            yield due


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
    """Vehicles whose service (maintenance or first service) falls due in `month`, each with
    whether the customer has been contacted, has booked (or came), or not yet.

    A fixed number of queries whatever the number of vehicles: vehicles with their history,
    then appointments, repair orders and care tasks of the vehicles due.
    """
    first_day, last_day = month_bounds(month)
    today = today or first_day
    dues = [
        d for d in iter_service_due(site=site, today=today) if first_day <= d.due_on <= last_day
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
    for t in CallTask.objects.filter(
        vehicle_id__in=ids,
        kind__in=(TaskKind.MAINTENANCE_DUE, TaskKind.FIRST_SERVICE),
        due_at__date__gte=since,
    ).order_by("due_at"):
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


def first_service_capture(
    *, site: Site, today: date, sold_since: date, months: int | None = None, km: int | None = None
) -> list[FirstServiceRow]:
    """New cars sold by the site since `sold_since`: which came for the first service, which
    are overdue, which are due soon. A fixed number of queries."""
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
        months_ = months or FIRST_SERVICE_MONTHS
        due_on = v.next_service_due_date if first_service_pending(v) else None
        due_on = due_on or add_months(v.purchase_date, months_)
        if not first_service_pending(v):
            status = FirstServiceStatus.CAME
        else:
            d = service_due(v, today=today, first_months=months, first_km=km)
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
