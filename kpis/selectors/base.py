"""The KPI dashboard's base sets: the scope (sites and a period), SQL helpers, and the querysets
every figure and every drill-down list is counted from (repair orders opened and delivered,
appointments, additional work, jobs, clock entries, follow-ups, complaints, vehicles due,
retention), and the sites' open days."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from dateutil.relativedelta import relativedelta
from django.db.models import (
    Aggregate,
    Exists,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from appointments.models import Appointment, AppointmentStatus
from customers import selectors as archive
from customers.models import Customer, Vehicle
from dms.models import Site
from dms.opening import open_days_of_sites
from outreach.models import CallOutcome, CallTask, TaskKind, TaskStatus
from workorders.models import AGREED_APPROVALS, JobLine, RepairOrder, ROStatus
from workshop.models import ClockEntry

try:  # the follow-ups app owns complaints; keep the dashboard working while it lands
    from followups.models import Complaint, ComplaintStatus
except ImportError:  # pragma: no cover
    Complaint = ComplaintStatus = None


BILLABLE = AGREED_APPROVALS  # the work the customer agreed to (workorders.models)


SATISFIED_MIN = 4  # satisfaction 4 or 5 on the 1–5 scale is a "satisfied" answer


ACTIVE_APPOINTMENTS = (
    AppointmentStatus.BOOKED,
    AppointmentStatus.CONFIRMED,
    AppointmentStatus.ARRIVED,
)


class Epoch(Func):
    """Seconds in an interval (Postgres EXTRACT(EPOCH FROM …))."""

    template = "EXTRACT(EPOCH FROM %(expressions)s)"
    output_field = FloatField()

    def as_sqlite(self, compiler, connection, **extra):
        # on SQLite a datetime difference is already a number: microseconds
        return self.as_sql(compiler, connection, template="(%(expressions)s) / 1000000.0", **extra)


class Median(Aggregate):
    function = "PERCENTILE_CONT"
    name = "median"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def as_sqlite(self, compiler, connection, **extra):
        # dms.sqlite.dms_median: the same interpolated median, in Python
        clone = self.copy()
        clone.function, clone.template = "dms_median", "%(function)s(%(expressions)s)"
        return clone.as_sql(compiler, connection, **extra)


def _rate(num, den) -> float | None:
    if not den:
        return None
    return round(float(num) / float(den), 4)


def _per(num, den, places: int = 2) -> float | None:
    if not den:
        return None
    return round(float(num or 0) / float(den), places)


def _f(value, places: int = 2) -> float:
    return round(float(value or 0), places)


@dataclass(frozen=True)
class Scope:
    """Sites and a period of site-local dates, both ends inclusive."""

    sites: tuple[Site, ...]
    start: dt.date
    end: dt.date
    today: dt.date | None = None
    _bounds: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def site_ids(self) -> list[int]:
        return [s.pk for s in self.sites]

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def bounds(self, site: Site) -> tuple[dt.datetime, dt.datetime]:
        tz = site.tzinfo
        lo = dt.datetime.combine(self.start, dt.time.min, tzinfo=tz)
        hi = dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
        return lo, hi

    def during(self, path: str, site_path: str = "site_id") -> Q:
        """`path` (a timestamp) inside the period, each site in its own time zone (one range
        per time zone, so a group's sites, which normally share one, make one index range)."""
        by_zone: dict[str, list[Site]] = defaultdict(list)
        for site in self.sites:
            by_zone[site.time_zone].append(site)
        q = Q(pk__in=[])
        for sites in by_zone.values():
            lo, hi = self.bounds(sites[0])
            q |= Q(
                **{f"{site_path}__in": [s.pk for s in sites], f"{path}__gte": lo, f"{path}__lt": hi}
            )
        return q

    def as_of(self, site: Site) -> dt.date:
        """The day stock-type figures (retention) are taken on: the period end, or today."""
        today = self.today or timezone.localtime(timezone.now(), site.tzinfo).date()
        return min(self.end, today)

    def previous(self) -> Scope:
        n = self.days
        return Scope(
            self.sites,
            self.start - dt.timedelta(days=n),
            self.start - dt.timedelta(days=1),
            self.today,
        )


def make_scope(*, site_ids: Iterable[int], start: dt.date, end: dt.date, today=None) -> Scope:
    sites = tuple(Site.objects.filter(pk__in=list(site_ids)).order_by("pk"))
    return Scope(sites, start, end, today)


def ros_opened(scope: Scope) -> QuerySet[RepairOrder]:
    return RepairOrder.objects.filter(
        site_id__in=scope.site_ids, opened_day__range=(scope.start, scope.end)
    ).exclude(status=ROStatus.CANCELLED)


def _followup_in_window() -> Exists:
    return Exists(
        CallTask.objects.filter(
            repair_order=OuterRef("pk"),
            kind=TaskKind.FOLLOWUP,
            status=TaskStatus.DONE,
            completed_at__gte=F("due_at"),
            completed_at__lte=F("due_until"),
        )
    )


def _came_back() -> Exists:
    return Exists(
        RepairOrder.objects.filter(comeback_of=OuterRef("pk"))
        .exclude(comeback_confirmed=False)
        .exclude(status=ROStatus.CANCELLED)
    )


def ros_delivered(scope: Scope) -> QuerySet[RepairOrder]:
    return RepairOrder.objects.filter(
        site_id__in=scope.site_ids,
        status=ROStatus.DELIVERED,
        delivered_day__range=(scope.start, scope.end),
    ).annotate(
        followed_up=_followup_in_window(),
        came_back=_came_back(),
        on_time=Q(promised_at__isnull=False, delivered_at__lte=F("promised_at")),
        in_warranty=Q(vehicle__warranty_end__gte=F("delivered_day")),
        qc_done=Q(qc_passed_at__isnull=False) | Q(qc_fail_count__gt=0),
        qc_first_pass=Q(qc_passed_at__isnull=False, qc_fail_count=0),
    )


# A walk-in is a walk-in whichever button started it: the front desk's walk-in button holds a
# reception slot with an appointment of channel "walk_in" that is checked in at once, the RO
# page's walk-in opens the RO alone. Neither is a booking: neither counts in the appointment
# rate, the show rate or the booked workshop hours.
WALK_IN = Appointment.BookingChannel.WALK_IN


FROM_BOOKING = Q(appointment_id__isnull=False) & ~Q(appointment__channel=WALK_IN)


def appointments_in(scope: Scope) -> QuerySet[Appointment]:
    """The bookings of the period (walk-ins are not bookings)."""
    return Appointment.objects.filter(
        site_id__in=scope.site_ids, day__range=(scope.start, scope.end)
    ).exclude(channel=WALK_IN)


def _additional_base(scope: Scope) -> QuerySet[JobLine]:
    return JobLine.objects.filter(
        is_additional=True,
        repair_order__site_id__in=scope.site_ids,
        repair_order__opened_day__range=(scope.start, scope.end),
    ).exclude(repair_order__status=ROStatus.CANCELLED)


def _later_same_work() -> Exists:
    """The same work (operation code, or description) approved on a later visit of the car."""
    return Exists(
        JobLine.objects.filter(
            repair_order__vehicle_id=OuterRef("repair_order__vehicle_id"),
            repair_order__opened_at__gt=OuterRef("repair_order__opened_at"),
            approval__in=BILLABLE,
        )
        .exclude(repair_order__status=ROStatus.CANCELLED)
        .filter(
            Q(operation_code=OuterRef("operation_code"), operation_code__gt="")
            | Q(description=OuterRef("description"))
        )
    )


def additional_lines(scope: Scope) -> QuerySet[JobLine]:
    return _additional_base(scope).annotate(recovered_later=_later_same_work())


# Timestamp-based figures ride indexes on the timestamp itself (job lines by sign-off, clock
# entries by start, follow-ups by site and completion); a period of closed days normally comes
# from the daily rollup (KpiDay), so these run live over today only.
def jobs_finished(scope: Scope) -> QuerySet[JobLine]:
    clocked = (
        ClockEntry.objects.filter(job=OuterRef("pk"), ended_at__isnull=False)
        .values("job")
        .annotate(s=Sum(Epoch(F("ended_at") - F("started_at"))))
        .values("s")
    )
    # The period's sign-offs come from the sign-off index (all sites); each line's site is then
    # looked up by its RO's primary key — a join would let the planner hash every RO of the
    # site for a day's few hundred lines.
    ro_site = (
        RepairOrder.objects.filter(pk=OuterRef("repair_order_id")).order_by().values("site_id")[:1]
    )
    return (
        JobLine.objects.filter(work_status=JobLine.WorkStatus.DONE, technician__isnull=False)
        .annotate(ro_site=Subquery(ro_site))
        .filter(scope.during("signed_off_at", "ro_site"))
        .annotate(clocked_seconds=Coalesce(clocked, Value(0.0)))
    )


# A job signed off with less than this share of its standard hours on the clock (the workshop's
# sign-off asks the technician to confirm such a time; see workshop.transitions).
IMPLAUSIBLE_SHARE = 0.1


def _implausible_time() -> Q:
    """Signed off with implausibly little clocked time for its standard hours."""
    return Q(standard_hours__gt=0) & Q(
        clocked_seconds__lt=ExpressionWrapper(
            F("standard_hours") * Value(3600 * IMPLAUSIBLE_SHARE), output_field=FloatField()
        )
    )


def clock_entries(scope: Scope) -> QuerySet[ClockEntry]:
    # the (site, started_at) index: the entry keeps its RO's site (workshop.models.ClockEntry)
    return (
        ClockEntry.objects.filter(ended_at__isnull=False)
        .filter(scope.during("started_at"))
        .annotate(seconds=Epoch(F("ended_at") - F("started_at")))
    )


def followups_completed(scope: Scope) -> QuerySet[CallTask]:
    return (
        CallTask.objects.filter(
            site_id__in=scope.site_ids,
            kind=TaskKind.FOLLOWUP,
            status=TaskStatus.DONE,
        )
        .filter(scope.during("completed_at"))
        .annotate(
            reached=Q(outcome=CallOutcome.REACHED) | Q(satisfaction__isnull=False),
            # 4–5 of 5, unless the agent recorded the customer as dissatisfied anyway
            satisfied=Q(satisfaction__gte=SATISFIED_MIN)
            & (Q(data__dissatisfied__isnull=True) | Q(data__dissatisfied=False)),
        )
    )


def complaint_conditions(scope: Scope, *, now: dt.datetime | None = None) -> dict[str, Q]:
    """A complaint of the period (`period`), and which of the figures it counts in: opened in
    the period, closed in it, answered late (or not yet, past its deadline)."""
    now = now or timezone.now()
    overdue = Q(contacted_at__gt=F("respond_by")) | Q(contacted_at__isnull=True, respond_by__lt=now)
    return {
        "period": scope.during("opened_at") | scope.during("closed_at"),
        "is_opened": scope.during("opened_at"),
        "is_closed": scope.during("closed_at") & Q(status=ComplaintStatus.CLOSED),
        "is_overdue": scope.during("opened_at") & overdue,
    }


HOURS_TO_CLOSE = Epoch(F("closed_at") - F("opened_at")) / 3600.0


def complaints_in(scope: Scope, *, now: dt.datetime | None = None):
    if Complaint is None:  # pragma: no cover
        return None
    c = complaint_conditions(scope, now=now)
    return (
        Complaint.objects.filter(site_id__in=scope.site_ids)
        .filter(c["period"])
        .annotate(
            is_opened=c["is_opened"],
            is_closed=c["is_closed"],
            is_overdue=c["is_overdue"],
            hours_to_close=HOURS_TO_CLOSE,
        )
    )


def first_service_due(scope: Scope) -> QuerySet[Vehicle]:
    """New cars sold by the sites whose first service fell due in the period, by the archive's
    one rule (`customers.service_due.first_service_due_on`: the site's first-service rule, by
    months or km), stored on the vehicle; captured when it came (a 首保 repair order) or is
    recorded as done."""
    came = Exists(
        RepairOrder.objects.filter(vehicle=OuterRef("pk"), is_first_service=True).exclude(
            status=ROStatus.CANCELLED
        )
    )
    return Vehicle.objects.filter(
        site_id__in=scope.site_ids, first_service_due_on__range=(scope.start, scope.end)
    ).annotate(is_captured=Q(first_service_done=True) | came)


def month_of(day: dt.date) -> tuple[dt.date, dt.date]:
    first = day.replace(day=1)
    return first, first + relativedelta(months=1) - dt.timedelta(days=1)


def due_this_month(scope: Scope) -> QuerySet[Vehicle]:
    """The archive's one "due this month" (`customers.selectors.due_this_month`) for the month
    of the period's last day."""
    return archive.due_this_month(site_ids=scope.site_ids, month=scope.end)


RETENTION_BUCKETS = ("active", "at_risk", "nearly_lost", "lost")


def _retention_q(scope: Scope) -> dict[str, Q]:
    """Per bucket, a Q over customers' last_delivery_at using each site's thresholds, for a
    query already limited to the scope's sites."""
    out = {b: Q(pk__in=[]) for b in RETENTION_BUCKETS}
    # sites with the same time zone, as-of day and thresholds share one set of ranges
    groups: dict[tuple, list[Site]] = defaultdict(list)
    for site in scope.sites:
        key = (
            site.time_zone,
            scope.as_of(site),
            site.retention_at_risk_months,
            site.retention_nearly_lost_months,
            site.retention_lost_months,
        )
        groups[key].append(site)
    for sites in groups.values():
        site = sites[0]
        day = scope.as_of(site)
        tz = site.tzinfo

        def cut(months: int, day=day, tz=tz) -> dt.datetime:
            # "less than N months" = last delivery after the local day N months before
            return dt.datetime.combine(
                day - relativedelta(months=months) + dt.timedelta(days=1), dt.time.min, tzinfo=tz
            )

        end_of_day = dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
        c3 = cut(site.retention_at_risk_months)
        c6 = cut(site.retention_nearly_lost_months)
        c9 = cut(site.retention_lost_months)
        # one set of ranges for all the sites (the usual case: one time zone and the default
        # thresholds) needs no site condition of its own: the query is already limited to the
        # scope's sites, and 4 × 263,000 tests of a 20-site list cost a group's month ~30 ms
        s = Q() if len(groups) == 1 else Q(site_id__in=[x.pk for x in sites])
        out["active"] |= s & Q(last_delivery_at__gte=c3, last_delivery_at__lt=end_of_day)
        out["at_risk"] |= s & Q(last_delivery_at__gte=c6, last_delivery_at__lt=c3)
        out["nearly_lost"] |= s & Q(last_delivery_at__gte=c9, last_delivery_at__lt=c6)
        out["lost"] |= s & Q(last_delivery_at__lt=c9)
    return out


def retention_customers(scope: Scope, bucket: str) -> QuerySet[Customer]:
    return Customer.objects.filter(
        site_id__in=scope.site_ids, merged_into__isnull=True, last_delivery_at__isnull=False
    ).filter(_retention_q(scope)[bucket])


def open_days(scope: Scope) -> dict[int, list[dt.date]]:
    """Per site, the days of the period the site is open (`dms.opening`: opening hours, minus
    closed dates)."""
    return open_days_of_sites(scope.site_ids, scope.start, scope.end)
