"""Reads for the manager dashboard: every KPI of SPEC §6 for some sites and a period.

Design for scale (2M ROs): every KPI group is one aggregate query (conditional Count/Sum with
FILTER clauses) over an index-backed range — RO (site, opened_day) / (site, delivered_day),
appointment (site, day, status), call task and complaint time ranges. Per-advisor and
per-technician figures come from the same grouped queries (totals are summed in Python over the
groups, which are bounded by staff, not by data). So a page runs a constant number of queries.

Periods are site-local dates, both inclusive. Day fields (opened_day, delivered_day, day) are
already site-local; for timestamps each site contributes its own [start 00:00, end+1 00:00) range
in its time zone.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models import (
    Aggregate,
    Count,
    DateField,
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
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from appointments.models import Appointment, AppointmentStatus
from customers.models import Customer, Vehicle
from dms.models import ClosedDate, OpeningHours, Role, Site, StaffRole
from dms.permissions import has_role, site_ids_of
from outreach.models import CallOutcome, CallTask, TaskKind, TaskStatus
from workorders.models import JobLine, PartLine, RepairOrder, ROStatus
from workshop.models import ClockEntry

try:  # the follow-ups app owns complaints; keep the dashboard working while it lands
    from followups.models import Complaint, ComplaintStatus
except ImportError:  # pragma: no cover
    Complaint = ComplaintStatus = None

BILLABLE = (JobLine.Approval.AUTHORIZED, JobLine.Approval.APPROVED)
SATISFIED_MIN = 4  # satisfaction 4 or 5 on the 1–5 scale is a "satisfied" answer
ACTIVE_APPOINTMENTS = (
    AppointmentStatus.BOOKED,
    AppointmentStatus.CONFIRMED,
    AppointmentStatus.ARRIVED,
)


# --- SQL helpers --------------------------------------------------------------------------
class Epoch(Func):
    """Seconds in an interval (Postgres EXTRACT(EPOCH FROM …))."""

    template = "EXTRACT(EPOCH FROM %(expressions)s)"
    output_field = FloatField()

    def as_sqlite(self, compiler, connection, **extra):
        # on SQLite a datetime difference is already a number: microseconds
        return self.as_sql(compiler, connection, template="(%(expressions)s) / 1000000.0", **extra)


class AddMonths(Func):
    """date + n months, as a date (Postgres)."""

    template = "(%(expressions)s))::date"
    arg_joiner = " + make_interval(0, "
    output_field = DateField()

    def as_sqlite(self, compiler, connection, **extra):
        # dms.sqlite.dms_add_months: the same end-of-month rule, in Python
        return self.as_sql(
            compiler,
            connection,
            function="dms_add_months",
            template="%(function)s(%(expressions)s)",
            arg_joiner=", ",
            **extra,
        )


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


# --- the scope ----------------------------------------------------------------------------
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


# --- base sets (shared by the figures and the drill-down lists) -----------------------------
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
    # as jobs_finished: the start-time index, then each entry's site by primary keys
    job_site = (
        JobLine.objects.filter(pk=OuterRef("job_id")).order_by().values("repair_order__site_id")[:1]
    )
    return (
        ClockEntry.objects.filter(ended_at__isnull=False)
        .annotate(ro_site=Subquery(job_site))
        .filter(scope.during("started_at", "ro_site"))
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


def complaints_in(scope: Scope, *, now: dt.datetime | None = None):
    if Complaint is None:  # pragma: no cover
        return None
    now = now or timezone.now()
    overdue = Q(contacted_at__gt=F("respond_by")) | Q(contacted_at__isnull=True, respond_by__lt=now)
    return (
        Complaint.objects.filter(site_id__in=scope.site_ids)
        .filter(scope.during("opened_at") | scope.during("closed_at"))
        .annotate(
            is_opened=scope.during("opened_at"),
            is_closed=scope.during("closed_at") & Q(status=ComplaintStatus.CLOSED),
            is_overdue=scope.during("opened_at") & overdue,
            hours_to_close=Epoch(F("closed_at") - F("opened_at")) / 3600.0,
        )
    )


def first_service_due(scope: Scope) -> QuerySet[Vehicle]:
    came = Exists(
        RepairOrder.objects.filter(vehicle=OuterRef("pk"), is_first_service=True).exclude(
            status=ROStatus.CANCELLED
        )
    )
    return (
        Vehicle.objects.filter(
            site_id__in=scope.site_ids, sold_by_site=True, purchase_date__isnull=False
        )
        .annotate(first_service_due_on=AddMonths(F("purchase_date"), F("service_interval_months")))
        .filter(first_service_due_on__range=(scope.start, scope.end))
        .annotate(is_captured=Q(first_service_done=True) | came)
    )


def month_of(day: dt.date) -> tuple[dt.date, dt.date]:
    first = day.replace(day=1)
    return first, first + relativedelta(months=1) - dt.timedelta(days=1)


def due_this_month(scope: Scope) -> QuerySet[Vehicle]:
    lo, hi = month_of(scope.end)
    return Vehicle.objects.filter(site_id__in=scope.site_ids, next_service_due_date__range=(lo, hi))


RETENTION_BUCKETS = ("active", "at_risk", "nearly_lost", "lost")


def _retention_q(scope: Scope) -> dict[str, Q]:
    """Per bucket, a Q over customers' last_delivery_at using each site's thresholds."""
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
        s = Q(site_id__in=[x.pk for x in sites])
        out["active"] |= s & Q(last_delivery_at__gte=c3, last_delivery_at__lt=end_of_day)
        out["at_risk"] |= s & Q(last_delivery_at__gte=c6, last_delivery_at__lt=c3)
        out["nearly_lost"] |= s & Q(last_delivery_at__gte=c9, last_delivery_at__lt=c6)
        out["lost"] |= s & Q(last_delivery_at__lt=c9)
    return out


def retention_customers(scope: Scope, bucket: str) -> QuerySet[Customer]:
    return Customer.objects.filter(
        site_id__in=scope.site_ids, merged_into__isnull=True, last_delivery_at__isnull=False
    ).filter(_retention_q(scope)[bucket])


# --- calendar -------------------------------------------------------------------------------
def open_days(scope: Scope) -> dict[int, list[dt.date]]:
    """Per site, the days of the period the site is open (opening hours, minus closed dates)."""
    weekdays: dict[int, set[int]] = defaultdict(set)
    for site_id, wd in OpeningHours.objects.filter(site_id__in=scope.site_ids).values_list(
        "site_id", "weekday"
    ):
        weekdays[site_id].add(wd)
    closed: dict[int, set[dt.date]] = defaultdict(set)
    for site_id, day in ClosedDate.objects.filter(
        site_id__in=scope.site_ids, date__range=(scope.start, scope.end)
    ).values_list("site_id", "date"):
        closed[site_id].add(day)
    out = {}
    for site in scope.sites:
        days = []
        d = scope.start
        while d <= scope.end:
            if d.weekday() in weekdays[site.pk] and d not in closed[site.pk]:
                days.append(d)
            d += dt.timedelta(days=1)
        out[site.pk] = days
    return out


# --- the daily figures: per person and site-local day, live or from the rollup ---------------
# Each family is a list of rows {"user_id": advisor or technician id or None, "day": date, …};
# the same shape comes from the live queries and from KpiDay, so a period can be split into
# rolled-up closed days and live days and the rows simply concatenated.
DAILY_FIELDS: dict[str, tuple[str, ...]] = {
    "opened": ("opened", "from_appointment"),
    "delivered": (
        "delivered",
        "labour",
        "parts",
        "revenue",
        "on_time",
        "qc_done",
        "qc_first_pass",
        "came_back",
        "followed_up",
        "in_warranty",
        "warranty_followed_up",
    ),
    "lines": ("sold_hours",),
    "parts": ("part_lines",),
    "additional": (
        "add_proposed",
        "add_approved",
        "add_declined",
        "add_proposed_amount",
        "add_approved_amount",
    ),
    "followups": ("reached", "satisfied"),
    "jobs": ("jobs_finished", "jobs_sold_hours", "jobs_clocked_seconds"),
    "clock": ("clocked_seconds",),
}


def _trend_tz(scope: Scope):
    """The time zone days of timestamps are counted in (a group's sites normally share one;
    the rollup is built per site, in the site's own zone)."""
    return scope.sites[0].tzinfo if scope.sites else timezone.get_current_timezone()


def live_daily(scope: Scope) -> dict[str, list[dict]]:
    """The daily figures computed from the source rows (one grouped query per family)."""
    tz = _trend_tz(scope)
    opened = (
        ros_opened(scope)
        .values(user_id=F("advisor_id"), day=F("opened_day"))
        .annotate(
            opened=Count("id"),
            from_appointment=Count("id", filter=FROM_BOOKING),
        )
    )
    delivered = (
        ros_delivered(scope)
        .values(user_id=F("advisor_id"), day=F("delivered_day"))
        .annotate(
            delivered=Count("id"),
            labour=Sum("labour_total"),
            parts=Sum("parts_total"),
            revenue=Sum("grand_total"),
            # (named *_n here: the flags themselves are annotations of the base set)
            on_time_n=Count("id", filter=Q(on_time=True)),
            qc_done_n=Count("id", filter=Q(qc_done=True)),
            qc_first_pass_n=Count("id", filter=Q(qc_first_pass=True)),
            came_back_n=Count("id", filter=Q(came_back=True)),
            followed_up_n=Count("id", filter=Q(followed_up=True)),
            in_warranty_n=Count("id", filter=Q(in_warranty=True)),
            warranty_followed_up_n=Count("id", filter=Q(in_warranty=True, followed_up=True)),
        )
    )
    lines = (
        JobLine.objects.filter(
            repair_order__site_id__in=scope.site_ids,
            repair_order__status=ROStatus.DELIVERED,
            repair_order__delivered_day__range=(scope.start, scope.end),
            approval__in=BILLABLE,
        )
        .values(user_id=F("repair_order__advisor_id"), day=F("repair_order__delivered_day"))
        .annotate(sold_hours=Sum("standard_hours"))
    )
    parts = (
        PartLine.objects.filter(
            job__repair_order__site_id__in=scope.site_ids,
            job__repair_order__status=ROStatus.DELIVERED,
            job__repair_order__delivered_day__range=(scope.start, scope.end),
            job__approval__in=BILLABLE,
        )
        .values(
            user_id=F("job__repair_order__advisor_id"), day=F("job__repair_order__delivered_day")
        )
        .annotate(part_lines=Count("id"))
    )
    ro_advisor = (
        RepairOrder.objects.filter(pk=OuterRef("repair_order_id")).order_by().values("advisor_id")
    )
    additional = (
        _additional_base(scope)
        .values(user_id=F("repair_order__advisor_id"), day=F("repair_order__opened_day"))
        .annotate(
            add_proposed=Count("id"),
            add_approved=Count("id", filter=Q(approval=JobLine.Approval.APPROVED)),
            add_declined=Count("id", filter=Q(approval=JobLine.Approval.DECLINED)),
            add_proposed_amount=Sum("labour_amount"),
            add_approved_amount=Sum("labour_amount", filter=Q(approval=JobLine.Approval.APPROVED)),
        )
    )
    followups = (
        followups_completed(scope)
        .annotate(completed_day=TruncDate("completed_at", tzinfo=tz))
        # the advisor looked up per call (a handful a day), never a join the planner could
        # turn into a scan of every repair order
        .values(user_id=Subquery(ro_advisor), day=F("completed_day"))
        .annotate(
            reached_n=Count("id", filter=Q(reached=True)),
            satisfied_n=Count("id", filter=Q(reached=True, satisfied=True)),
        )
    )
    jobs = (
        jobs_finished(scope)
        .annotate(signed_off_day=TruncDate("signed_off_at", tzinfo=tz))
        .values(user_id=F("technician_id"), day=F("signed_off_day"))
        .annotate(
            jobs_finished=Count("id"),
            jobs_sold_hours=Sum("standard_hours"),
            jobs_clocked_seconds=Sum("clocked_seconds"),
        )
    )
    clock = (
        clock_entries(scope)
        .annotate(started_day=TruncDate("started_at", tzinfo=tz))
        .values(user_id=F("technician_id"), day=F("started_day"))
        .annotate(clocked_seconds=Sum("seconds"))
    )
    families = {
        "opened": opened,
        "delivered": delivered,
        "lines": lines,
        "parts": parts,
        "additional": additional,
        "followups": followups,
        "jobs": jobs,
        "clock": clock,
    }
    out = {name: list(qs.order_by()) for name, qs in families.items()}
    for r in out["delivered"] + out["followups"]:
        for k in [k for k in r if k.endswith("_n")]:
            r[k[:-2]] = r.pop(k)
    # a row of zeros says nothing (and the rollup keeps none): drop it, so that a person with
    # only such a row gets no table row either way
    return {
        name: [r for r in rows if any(r[f] for f in DAILY_FIELDS[name])]
        for name, rows in out.items()
    }


def rollup_span(scope: Scope) -> tuple[dt.date, dt.date] | None:
    """The days of the period every site's rollup holds, or None. Today (and later) is never
    taken from the rollup: it is still changing."""
    from kpis.models import KpiRollupState

    states = list(KpiRollupState.objects.filter(site_id__in=scope.site_ids))
    if not states or len(states) < len(scope.sites):
        return None
    lo = max([scope.start] + [s.built_from for s in states])
    hi = min([scope.end] + [s.built_through for s in states])
    for site in scope.sites:
        today = scope.today or timezone.localtime(timezone.now(), site.tzinfo).date()
        hi = min(hi, today - dt.timedelta(days=1))
    return (lo, hi) if lo <= hi else None


def rollup_daily(scope: Scope, lo: dt.date, hi: dt.date) -> dict[str, list[dict]]:
    """The daily figures of [lo, hi] from the rollup: one query, rows of all the scope's sites
    summed per person and day."""
    from kpis.models import KpiDay

    names = [f for fields in DAILY_FIELDS.values() for f in fields]
    rows = (
        KpiDay.objects.filter(site_id__in=scope.site_ids, day__range=(lo, hi))
        .values("user_id", "day")
        .annotate(**{f"{n}_sum": Sum(n) for n in names})
        .order_by()
    )
    out: dict[str, list[dict]] = {name: [] for name in DAILY_FIELDS}
    for r in rows:
        user_id = r["user_id"] or None
        for family, fields in DAILY_FIELDS.items():
            values = {f: r[f"{f}_sum"] for f in fields}
            if any(values.values()):
                out[family].append({"user_id": user_id, "day": r["day"], **values})
    return out


def daily(scope: Scope, *, use_rollup: bool = True) -> dict[str, list[dict]]:
    """The daily figures of the period: closed days the rollup holds from it, the rest
    (today, days not rolled up yet) live."""
    span = rollup_span(scope) if use_rollup else None
    if span is None:
        return live_daily(scope)
    lo, hi = span
    parts = [rollup_daily(scope, lo, hi)]
    if scope.start < lo:
        parts.append(live_daily(Scope(scope.sites, scope.start, lo - dt.timedelta(days=1))))
    if hi < scope.end:
        parts.append(live_daily(Scope(scope.sites, hi + dt.timedelta(days=1), scope.end)))
    return {name: [row for p in parts for row in p[name]] for name in DAILY_FIELDS}


def fold_daily(rows: Iterable[dict], key=lambda r: r["user_id"]) -> dict:
    """Sum daily rows per `key(row)` (by default the person): {key: {figure: sum}}."""
    out: dict = {}
    for r in rows:
        acc = out.setdefault(key(r), {})
        for k, v in r.items():
            if k not in ("user_id", "day") and v is not None:
                acc[k] = acc.get(k, 0) + v
    return out


def _declined_recovered(scope: Scope) -> int:
    """Declined additional lines of the period's ROs done on a later visit: live, since the
    later visit can come any time after the day. The period's ROs are read first and their ids
    passed as a list, so the lines are found by probing the additional-lines index per RO (as a
    join, the planner sometimes scanned every additional line of every site)."""
    ro_ids = list(ros_opened(scope).order_by().values_list("pk", flat=True))
    if not ro_ids:
        return 0
    return (
        JobLine.objects.filter(
            repair_order_id__in=ro_ids, is_additional=True, approval=JobLine.Approval.DECLINED
        )
        .annotate(recovered_later=_later_same_work())
        .filter(recovered_later=True)
        .count()
    )


def _attendance(scope: Scope, days: dict[int, list[dt.date]]) -> tuple[dict[int, float], float]:
    """Attended hours per technician and in total (on-duty technicians × hours × open days
    of the period up to today)."""
    per_tech: dict[int, float] = defaultdict(float)
    by_site = {s.pk: s for s in scope.sites}
    for site_id, user_id in StaffRole.objects.filter(
        site_id__in=scope.site_ids, role=Role.TECHNICIAN, on_duty=True
    ).values_list("site_id", "user_id"):
        site = by_site[site_id]
        today = scope.as_of(site)
        n = sum(1 for d in days[site_id] if d <= today)
        per_tech[user_id] += n * float(site.technician_hours_per_day)
    return per_tech, sum(per_tech.values())


def _appointments(scope: Scope) -> dict:
    return appointments_in(scope).aggregate(
        booked=Count("id", filter=~Q(status=AppointmentStatus.CANCELLED)),
        arrived=Count("id", filter=Q(status=AppointmentStatus.ARRIVED)),
        booked_hours=Sum("estimated_hours", filter=Q(status__in=ACTIVE_APPOINTMENTS)),
    )


def _complaints(scope: Scope) -> dict:
    qs = complaints_in(scope)
    if qs is None:  # pragma: no cover
        return {"opened": 0, "closed": 0, "median": None, "overdue": 0}
    return qs.aggregate(
        opened=Count("id", filter=Q(is_opened=True)),
        closed=Count("id", filter=Q(is_closed=True)),
        overdue=Count("id", filter=Q(is_overdue=True)),
        median=Median("hours_to_close", filter=Q(is_closed=True)),
    )


def _first_service(scope: Scope) -> dict:
    return first_service_due(scope).aggregate(
        due=Count("id"), captured=Count("id", filter=Q(is_captured=True))
    )


def _retention(scope: Scope) -> dict:
    qs = Customer.objects.filter(
        site_id__in=scope.site_ids, merged_into__isnull=True, last_delivery_at__isnull=False
    )
    return qs.aggregate(**{b: Count("id", filter=q) for b, q in _retention_q(scope).items()})


def kpis_compute(
    *,
    site_ids: Iterable[int],
    start: dt.date,
    end: dt.date,
    detail: bool = False,
    today: dt.date | None = None,
) -> dict:
    """Every KPI of SPEC §6 for the sites and the period (site-local dates, inclusive).

    Rates are fractions 0–1 (4 decimals) or None when the denominator is 0. With
    `detail=True` also per-day trends and the per-advisor and per-technician tables.
    """
    scope = make_scope(site_ids=site_ids, start=start, end=end, today=today)
    return compute_for_scope(scope, detail=detail)


def compute_for_scope(scope: Scope, *, detail: bool = False, use_rollup: bool = True) -> dict:
    d = daily(scope, use_rollup=use_rollup)
    recovered = _declined_recovered(scope)
    days = open_days(scope)
    attended_by_tech, attended = _attendance(scope, days)
    appt = _appointments(scope)
    comp = _complaints(scope)
    fs = _first_service(scope)
    retention = _retention(scope)
    due_month = due_this_month(scope).count()
    implausible = jobs_finished(scope).filter(_implausible_time()).count()

    t = {name: fold_daily(rows, key=lambda r: None).get(None, {}) for name, rows in d.items()}
    opened = t["opened"].get("opened", 0)
    delivered = t["delivered"].get("delivered", 0)
    labour = t["delivered"].get("labour", 0)
    parts = t["delivered"].get("parts", 0)
    sold_hours = t["lines"].get("sold_hours", 0)
    clocked_on_finished = t["jobs"].get("jobs_clocked_seconds", 0) / 3600.0
    sold_finished = t["jobs"].get("jobs_sold_hours", 0)
    clocked = t["clock"].get("clocked_seconds", 0) / 3600.0
    capacity = sum(float(site.daily_bookable_hours) * len(days[site.pk]) for site in scope.sites)
    dv = t["delivered"]
    extra = t["additional"]

    result = {
        "sites": scope.site_ids,
        "start": scope.start.isoformat(),
        "end": scope.end.isoformat(),
        "ro_opened": opened,
        "ro_delivered": delivered,
        "appointment_rate": _rate(t["opened"].get("from_appointment", 0), opened),
        "show_rate": _rate(appt["arrived"], appt["booked"]),
        "hours_per_ro": _per(sold_hours, delivered),
        "parts_lines_per_ro": _per(t["parts"].get("part_lines", 0), delivered),
        "labour_revenue_per_ro": _per(labour, delivered),
        "parts_revenue_per_ro": _per(parts, delivered),
        "on_time_delivery_rate": _rate(dv.get("on_time", 0), delivered),
        "qc_first_pass_rate": _rate(dv.get("qc_first_pass", 0), dv.get("qc_done", 0)),
        "comeback_rate": _rate(dv.get("came_back", 0), delivered),
        "technician_efficiency": _rate(sold_finished, clocked_on_finished),
        "technician_productivity": _rate(clocked, attended),
        "effective_labour_rate": _per(labour, sold_hours),
        "additional_work_capture_rate": _rate(
            extra.get("add_approved", 0), extra.get("add_proposed", 0)
        ),
        "additional_work_amount_capture_rate": _rate(
            extra.get("add_approved_amount", 0), extra.get("add_proposed_amount", 0)
        ),
        "additional_lines_proposed": extra.get("add_proposed", 0),
        "additional_lines_approved": extra.get("add_approved", 0),
        "additional_lines_declined": extra.get("add_declined", 0),
        "declined_work_recovered": recovered,
        "followup_rate": _rate(dv.get("followed_up", 0), delivered),
        "followup_rate_warranty": _rate(
            dv.get("warranty_followed_up", 0), dv.get("in_warranty", 0)
        ),
        "satisfaction_rate": _rate(
            t["followups"].get("satisfied", 0), t["followups"].get("reached", 0)
        ),
        "complaints_opened": comp["opened"],
        "complaints_closed": comp["closed"],
        "complaint_median_hours_to_close": (
            None if comp["median"] is None else round(float(comp["median"]), 2)
        ),
        "complaints_overdue": comp["overdue"],
        "first_service_capture_rate": _rate(fs["captured"], fs["due"]),
        "first_service_due": fs["due"],
        "retention": {b: retention[b] for b in RETENTION_BUCKETS},
        "due_this_month": due_month,
        "workshop_load": _rate(appt["booked_hours"] or 0, capacity),
        # the amounts behind the ratios
        "labour_revenue": _f(labour),
        "parts_revenue": _f(parts),
        "sold_hours": _f(sold_hours),
        "clocked_hours": _f(clocked),
        "attended_hours": _f(attended),
        "booked_hours": _f(appt["booked_hours"]),
        "capacity_hours": _f(capacity),
        # each ratio's numerator and denominator, from the same rows as the ratio
        "ro_from_appointment": t["opened"].get("from_appointment", 0),
        "appointments_booked": appt["booked"],
        "appointments_arrived": appt["arrived"],
        "finished_sold_hours": _f(sold_finished),
        "finished_clocked_hours": _f(clocked_on_finished),
        "implausible_clock_jobs": implausible,
    }
    if detail:
        result["advisors"] = _advisor_table(d)
        result["technicians"] = _technician_table(d, attended_by_tech)
        result["trend"] = trend(scope, d)
        _attach_names(result)
    return result


def _advisor_table(d: dict[str, list[dict]]) -> list[dict]:
    rows: dict[int, dict] = defaultdict(dict)
    for family in ("opened", "delivered", "lines", "followups"):
        for uid, sums in fold_daily(d[family]).items():
            if uid is not None:
                rows[uid].update(sums)
    out = []
    for uid, r in rows.items():
        delivered = r.get("delivered", 0)
        out.append(
            {
                "user_id": uid,
                "ro_opened": r.get("opened", 0),
                "ro_delivered": delivered,
                "appointment_rate": _rate(r.get("from_appointment", 0), r.get("opened", 0)),
                "hours_per_ro": _per(r.get("sold_hours") or 0, delivered),
                "labour_revenue": _f(r.get("labour")),
                "parts_revenue": _f(r.get("parts")),
                "on_time_delivery_rate": _rate(r.get("on_time", 0), delivered),
                "comeback_rate": _rate(r.get("came_back", 0), delivered),
                "followup_rate": _rate(r.get("followed_up", 0), delivered),
                "satisfaction_rate": _rate(r.get("satisfied", 0), r.get("reached", 0)),
            }
        )
    return out


def _technician_table(d: dict[str, list[dict]], attended_by_tech) -> list[dict]:
    rows: dict[int, dict] = defaultdict(dict)
    for family in ("jobs", "clock"):
        for uid, sums in fold_daily(d[family]).items():
            if uid is not None:
                rows[uid].update(sums)
    for uid in attended_by_tech:
        rows.setdefault(uid, {})  # every on-duty technician gets a row
    out = []
    for uid, r in rows.items():
        attended = attended_by_tech.get(uid, 0.0)
        sold = r.get("jobs_sold_hours", 0)
        out.append(
            {
                "user_id": uid,
                "jobs_finished": r.get("jobs_finished", 0),
                "sold_hours": _f(sold),
                "clocked_hours": _f(r.get("clocked_seconds", 0) / 3600.0),
                "finished_clocked_hours": _f(r.get("jobs_clocked_seconds", 0) / 3600.0),
                "attended_hours": _f(attended),
                "technician_efficiency": _rate(sold, r.get("jobs_clocked_seconds", 0) / 3600.0),
                "technician_productivity": _rate(r.get("clocked_seconds", 0) / 3600.0, attended),
            }
        )
    return out


def _attach_names(result: dict) -> None:
    ids = {r["user_id"] for r in result["advisors"]} | {r["user_id"] for r in result["technicians"]}
    names = {
        u.pk: (u.get_full_name() or u.username) for u in get_user_model().objects.filter(pk__in=ids)
    }
    for key in ("advisors", "technicians"):
        for r in result[key]:
            r["name"] = names.get(r["user_id"], "—")
        result[key].sort(key=lambda r: r["name"])


def _bucket(day: dt.date, weekly: bool) -> dt.date:
    return day - dt.timedelta(days=day.weekday()) if weekly else day


def trend(scope: Scope, d: dict[str, list[dict]]) -> dict:
    """Per day (per week, Monday-based, for periods over 62 days): car count, revenue, on-time
    rate and satisfaction, folded from the daily figures (no extra queries)."""
    weekly = scope.days > 62
    buckets = []
    b = _bucket(scope.start, weekly)
    while b <= scope.end:
        buckets.append(b)
        b += dt.timedelta(days=7 if weekly else 1)
    series = {b: {"ro_opened": 0, "ro_delivered": 0, "revenue": 0.0, "on_time": 0} for b in buckets}
    sat = {b: [0, 0] for b in buckets}
    for r in d["opened"]:
        series[_bucket(r["day"], weekly)]["ro_opened"] += r["opened"]
    for r in d["delivered"]:
        row = series[_bucket(r["day"], weekly)]
        row["ro_delivered"] += r["delivered"]
        row["revenue"] += float((r["labour"] or Decimal(0)) + (r["parts"] or Decimal(0)))
        row["on_time"] += r["on_time"]
    for r in d["followups"]:
        key = _bucket(r["day"], weekly)
        if key in sat:
            sat[key][0] += r["satisfied"]
            sat[key][1] += r["reached"]
    return {
        "unit": "week" if weekly else "day",
        "labels": [b.isoformat() for b in buckets],
        "ro_opened": [series[b]["ro_opened"] for b in buckets],
        "ro_delivered": [series[b]["ro_delivered"] for b in buckets],
        "revenue": [round(series[b]["revenue"], 2) for b in buckets],
        "on_time_delivery_rate": [
            _rate(series[b]["on_time"], series[b]["ro_delivered"]) for b in buckets
        ],
        "satisfaction_rate": [_rate(*sat[b]) for b in buckets],
    }


PREVIOUS_CACHE_SECONDS = 300


def kpis_previous(scope: Scope) -> dict:
    """The tiles' figures for the period of the same length just before `scope`, for the
    change shown on each tile. Cached for five minutes: the comparison period lies in the past,
    so a few minutes' staleness on late follow-ups or comebacks does not change the picture, and
    the dashboard does not pay for two full computations on every load."""
    prev = scope.previous()
    key = "kpis:prev:{}:{}:{}".format(
        ",".join(map(str, scope.site_ids)), prev.start.isoformat(), prev.end.isoformat()
    )
    data = cache.get(key)
    if data is None:
        data = compute_for_scope(prev)
        cache.set(key, data, PREVIOUS_CACHE_SECONDS)
    return data


# --- who sees what, and the period presets ----------------------------------------------------
MAX_PERIOD_DAYS = 366

PRESETS = {
    "today": _("Today"),
    "this_week": _("This week"),
    "this_month": _("This month"),
    "last_month": _("Last month"),
    "custom": _("Custom"),
}


def period_for(preset: str, today: dt.date) -> tuple[dt.date, dt.date]:
    """The dates of a preset: to-date periods end today (so the previous period of the same
    length compares like with like); last month is the whole calendar month."""
    if preset == "today":
        return today, today
    if preset == "this_week":
        return today - dt.timedelta(days=today.weekday()), today
    if preset == "last_month":
        first_this = today.replace(day=1)
        last = first_this - dt.timedelta(days=1)
        return last.replace(day=1), last
    return today.replace(day=1), today  # this_month


def manager_site_ids(user) -> list[int]:
    """The sites whose dashboard the user may see: where they are the service manager."""
    return [s for s in site_ids_of(user) if has_role(user, s, Role.MANAGER)]


# --- drill-down: the records behind each number -------------------------------------------
@dataclass(frozen=True)
class RecordSet:
    kind: str  # ro | appointment | job | clock | task | complaint | vehicle | customer
    build: object  # (scope) -> QuerySet
    flags: tuple[str, ...] = ()  # boolean annotations shown as columns, usable as ?only=
    advisor_path: str = ""
    technician_path: str = ""


RO_FLAGS = ("on_time", "qc_first_pass", "came_back", "followed_up", "in_warranty")


def _with_appointment_flag(qs):
    return qs.annotate(from_appointment=FROM_BOOKING)


RECORD_SETS: dict[str, RecordSet] = {
    "ro_opened": RecordSet(
        "ro",
        lambda s: _with_appointment_flag(ros_opened(s)),
        ("from_appointment",),
        "advisor_id",
    ),
    "ro_delivered": RecordSet("ro", ros_delivered, RO_FLAGS, "advisor_id"),
    "ro_delivered_warranty": RecordSet(
        "ro", lambda s: ros_delivered(s).filter(in_warranty=True), RO_FLAGS, "advisor_id"
    ),
    "ro_qc": RecordSet(
        "ro", lambda s: ros_delivered(s).filter(qc_done=True), RO_FLAGS, "advisor_id"
    ),
    "appointments": RecordSet(
        "appointment",
        lambda s: (
            appointments_in(s)
            .exclude(status=AppointmentStatus.CANCELLED)
            .annotate(arrived=Q(status=AppointmentStatus.ARRIVED))
        ),
        ("arrived",),
        "advisor_id",
    ),
    "appointments_active": RecordSet(
        "appointment",
        lambda s: (
            appointments_in(s)
            .filter(status__in=ACTIVE_APPOINTMENTS)
            .annotate(arrived=Q(status=AppointmentStatus.ARRIVED))
        ),
        ("arrived",),
        "advisor_id",
    ),
    "additional_lines": RecordSet(
        "job",
        lambda s: additional_lines(s).annotate(approved=Q(approval=JobLine.Approval.APPROVED)),
        ("approved", "recovered_later"),
        "repair_order__advisor_id",
        "technician_id",
    ),
    "jobs_finished": RecordSet(
        "job",
        lambda s: jobs_finished(s).annotate(implausible_time=_implausible_time()),
        ("implausible_time",),
        "",
        "technician_id",
    ),
    "clock_entries": RecordSet("clock", clock_entries, (), "", "technician_id"),
    "followups_reached": RecordSet(
        "task",
        lambda s: followups_completed(s).filter(reached=True),
        ("satisfied",),
        "repair_order__advisor_id",
    ),
    "complaints_opened": RecordSet(
        "complaint", lambda s: complaints_in(s).filter(is_opened=True), ("is_overdue",)
    ),
    "complaints_closed": RecordSet("complaint", lambda s: complaints_in(s).filter(is_closed=True)),
    "complaints_overdue": RecordSet(
        "complaint", lambda s: complaints_in(s).filter(is_overdue=True)
    ),
    "first_service_due": RecordSet("vehicle", first_service_due, ("is_captured",)),
    "due_this_month": RecordSet("vehicle", due_this_month),
    **{
        f"retention_{b}": RecordSet("customer", lambda s, b=b: retention_customers(s, b))
        for b in RETENTION_BUCKETS
    },
}

_RELATED = {
    "ro": ("vehicle", "customer", "advisor"),
    "appointment": ("vehicle", "customer", "advisor"),
    "job": ("repair_order__vehicle", "technician"),
    "clock": ("job__repair_order", "technician"),
    "task": ("repair_order__vehicle", "customer", "assignee"),
    "complaint": ("customer", "repair_order"),
    "vehicle": ("owner",),
    "customer": (),
}


def kpi_records(
    key: str,
    scope: Scope,
    *,
    advisor_id: int | None = None,
    technician_id: int | None = None,
    only: str = "",
) -> tuple[RecordSet, QuerySet]:
    """The records behind a number, with the flags that decide the numerator.

    Raises KeyError for an unknown key; `only` keeps the rows with that flag set."""
    rs = RECORD_SETS[key]
    qs = rs.build(scope)
    if advisor_id and rs.advisor_path:
        qs = qs.filter(**{rs.advisor_path: advisor_id})
    if technician_id and rs.technician_path:
        qs = qs.filter(**{rs.technician_path: technician_id})
    if only and only in rs.flags:
        qs = qs.filter(**{only: True})
    return rs, qs.select_related(*_RELATED[rs.kind]).order_by("-pk")
