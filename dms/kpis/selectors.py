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
    F,
    FloatField,
    Func,
    OuterRef,
    Q,
    QuerySet,
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
from followups.models import CallOutcome, CallTask, TaskKind, TaskStatus
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


class AddMonths(Func):
    """date + n months, as a date (Postgres)."""

    template = "(%(expressions)s))::date"
    arg_joiner = " + make_interval(0, "
    output_field = DateField()


class Median(Aggregate):
    function = "PERCENTILE_CONT"
    name = "median"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


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
        """`path` (a timestamp) inside the period, each site in its own time zone."""
        q = Q(pk__in=[])
        for site in self.sites:
            lo, hi = self.bounds(site)
            q |= Q(**{site_path: site.pk, f"{path}__gte": lo, f"{path}__lt": hi})
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


def appointments_in(scope: Scope) -> QuerySet[Appointment]:
    return Appointment.objects.filter(
        site_id__in=scope.site_ids, day__range=(scope.start, scope.end)
    )


def additional_lines(scope: Scope) -> QuerySet[JobLine]:
    later_same_work = (
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
    return (
        JobLine.objects.filter(
            is_additional=True,
            repair_order__site_id__in=scope.site_ids,
            repair_order__opened_day__range=(scope.start, scope.end),
        )
        .exclude(repair_order__status=ROStatus.CANCELLED)
        .annotate(recovered_later=Exists(later_same_work))
    )


# Search windows that let timestamp-based figures ride the RO (site, opened_day) index and the
# call-task (site, status, due_until) index instead of scanning every clock entry or task: work
# clocked or signed off in the period belongs to an RO opened at most LOOKBACK_DAYS before it,
# and a follow-up completed in the period fell due at most LOOKBACK_DAYS before it.
LOOKBACK_DAYS = 92


def _lookback(scope: Scope) -> dt.date:
    return scope.start - dt.timedelta(days=LOOKBACK_DAYS)


def jobs_finished(scope: Scope) -> QuerySet[JobLine]:
    clocked = (
        ClockEntry.objects.filter(job=OuterRef("pk"), ended_at__isnull=False)
        .values("job")
        .annotate(s=Sum(Epoch(F("ended_at") - F("started_at"))))
        .values("s")
    )
    return (
        JobLine.objects.filter(
            repair_order__site_id__in=scope.site_ids,
            repair_order__opened_day__range=(_lookback(scope), scope.end),
            work_status=JobLine.WorkStatus.DONE,
            technician__isnull=False,
        )
        .filter(scope.during("signed_off_at", "repair_order__site_id"))
        .annotate(clocked_seconds=Coalesce(clocked, Value(0.0)))
    )


def clock_entries(scope: Scope) -> QuerySet[ClockEntry]:
    return (
        ClockEntry.objects.filter(
            job__repair_order__site_id__in=scope.site_ids,
            job__repair_order__opened_day__range=(_lookback(scope), scope.end),
            ended_at__isnull=False,
        )
        .filter(scope.during("started_at", "job__repair_order__site_id"))
        .annotate(seconds=Epoch(F("ended_at") - F("started_at")))
    )


def followups_completed(scope: Scope) -> QuerySet[CallTask]:
    return (
        CallTask.objects.filter(
            site_id__in=scope.site_ids,
            kind=TaskKind.FOLLOWUP,
            status=TaskStatus.DONE,
            due_until__gte=dt.datetime.combine(_lookback(scope), dt.time.min, tzinfo=dt.UTC),
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
    for site in scope.sites:
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
        s = Q(site_id=site.pk)
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


# --- the figures ------------------------------------------------------------------------------
def _ro_opened_groups(scope: Scope) -> list[dict]:
    return list(
        ros_opened(scope)
        .values("advisor_id", "opened_day")
        .annotate(
            opened=Count("id"),
            from_appointment=Count("id", filter=Q(appointment_id__isnull=False)),
        )
        .order_by()
    )


def _ro_delivered_groups(scope: Scope) -> list[dict]:
    return list(
        ros_delivered(scope)
        .values("advisor_id", "delivered_day")
        .annotate(
            delivered=Count("id"),
            labour=Sum("labour_total"),
            parts=Sum("parts_total"),
            revenue=Sum("grand_total"),
            on_time_n=Count("id", filter=Q(on_time=True)),
            qc_done_n=Count("id", filter=Q(qc_done=True)),
            qc_first_n=Count("id", filter=Q(qc_first_pass=True)),
            came_back_n=Count("id", filter=Q(came_back=True)),
            followed_n=Count("id", filter=Q(followed_up=True)),
            warranty_n=Count("id", filter=Q(in_warranty=True)),
            warranty_followed_n=Count("id", filter=Q(in_warranty=True, followed_up=True)),
        )
        .order_by()
    )


def _lines_groups(scope: Scope) -> list[dict]:
    """Sold hours per advisor (billable lines of delivered ROs)."""
    return list(
        JobLine.objects.filter(
            repair_order__site_id__in=scope.site_ids,
            repair_order__status=ROStatus.DELIVERED,
            repair_order__delivered_day__range=(scope.start, scope.end),
            approval__in=BILLABLE,
        )
        .values("repair_order__advisor_id")
        .annotate(hours=Sum("standard_hours"))
        .order_by()
    )


def _parts_lines(scope: Scope) -> int:
    return PartLine.objects.filter(
        job__repair_order__site_id__in=scope.site_ids,
        job__repair_order__status=ROStatus.DELIVERED,
        job__repair_order__delivered_day__range=(scope.start, scope.end),
        job__approval__in=BILLABLE,
    ).count()


def _additional(scope: Scope) -> dict:
    return additional_lines(scope).aggregate(
        proposed=Count("id"),
        approved=Count("id", filter=Q(approval=JobLine.Approval.APPROVED)),
        declined=Count("id", filter=Q(approval=JobLine.Approval.DECLINED)),
        proposed_amount=Sum("labour_amount"),
        approved_amount=Sum("labour_amount", filter=Q(approval=JobLine.Approval.APPROVED)),
        recovered=Count("id", filter=Q(approval=JobLine.Approval.DECLINED, recovered_later=True)),
    )


def _efficiency_groups(scope: Scope) -> list[dict]:
    return list(
        jobs_finished(scope)
        .values("technician_id")
        .annotate(sold=Sum("standard_hours"), clocked_s=Sum("clocked_seconds"), jobs=Count("id"))
        .order_by()
    )


def _clock_groups(scope: Scope) -> list[dict]:
    return list(
        clock_entries(scope).values("technician_id").annotate(clocked_s=Sum("seconds")).order_by()
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


def _followup_groups(scope: Scope) -> list[dict]:
    return list(
        followups_completed(scope)
        .annotate(day=TruncDate("completed_at", tzinfo=_trend_tz(scope)))
        .values("repair_order__advisor_id", "day")
        .annotate(
            reached_n=Count("id", filter=Q(reached=True)),
            satisfied_n=Count("id", filter=Q(reached=True, satisfied=True)),
        )
        .order_by()
    )


def _trend_tz(scope: Scope):
    """The time zone days of timestamps are charted in (a group's sites normally share one)."""
    return scope.sites[0].tzinfo if scope.sites else timezone.get_current_timezone()


def _fold(rows: list[dict], key: str) -> list[dict]:
    """Sum grouped rows (advisor × day) down to one row per `key`."""
    out: dict = {}
    for r in rows:
        acc = out.setdefault(r[key], {key: r[key]})
        for k, v in r.items():
            if k != key and isinstance(v, int | float | Decimal) and not isinstance(v, bool):
                acc[k] = acc.get(k, 0) + v
    return list(out.values())


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


def _sum(rows: list[dict], key: str):
    return sum((r[key] or 0) for r in rows)


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


def compute_for_scope(scope: Scope, *, detail: bool = False) -> dict:
    opened_g = _ro_opened_groups(scope)
    delivered_g = _ro_delivered_groups(scope)
    lines_g = _lines_groups(scope)
    parts_lines = _parts_lines(scope)
    extra = _additional(scope)
    eff_g = _efficiency_groups(scope)
    clock_g = _clock_groups(scope)
    days = open_days(scope)
    attended_by_tech, attended = _attendance(scope, days)
    fu_g = _followup_groups(scope)
    appt = _appointments(scope)
    comp = _complaints(scope)
    fs = _first_service(scope)
    retention = _retention(scope)
    due_month = due_this_month(scope).count()

    opened = _sum(opened_g, "opened")
    delivered = _sum(delivered_g, "delivered")
    labour = _sum(delivered_g, "labour")
    parts = _sum(delivered_g, "parts")
    sold_hours = _sum(lines_g, "hours")
    clocked_on_finished = _sum(eff_g, "clocked_s") / 3600.0
    sold_finished = _sum(eff_g, "sold")
    clocked = _sum(clock_g, "clocked_s") / 3600.0
    capacity = sum(float(site.daily_bookable_hours) * len(days[site.pk]) for site in scope.sites)
    reached = _sum(fu_g, "reached_n")

    result = {
        "sites": scope.site_ids,
        "start": scope.start.isoformat(),
        "end": scope.end.isoformat(),
        "ro_opened": opened,
        "ro_delivered": delivered,
        "appointment_rate": _rate(_sum(opened_g, "from_appointment"), opened),
        "show_rate": _rate(appt["arrived"], appt["booked"]),
        "hours_per_ro": _per(sold_hours, delivered),
        "parts_lines_per_ro": _per(parts_lines, delivered),
        "labour_revenue_per_ro": _per(labour, delivered),
        "parts_revenue_per_ro": _per(parts, delivered),
        "on_time_delivery_rate": _rate(_sum(delivered_g, "on_time_n"), delivered),
        "qc_first_pass_rate": _rate(
            _sum(delivered_g, "qc_first_n"), _sum(delivered_g, "qc_done_n")
        ),
        "comeback_rate": _rate(_sum(delivered_g, "came_back_n"), delivered),
        "technician_efficiency": _rate(sold_finished, clocked_on_finished),
        "technician_productivity": _rate(clocked, attended),
        "effective_labour_rate": _per(labour, sold_hours),
        "additional_work_capture_rate": _rate(extra["approved"], extra["proposed"]),
        "additional_work_amount_capture_rate": _rate(
            extra["approved_amount"] or 0, extra["proposed_amount"] or 0
        ),
        "additional_lines_proposed": extra["proposed"],
        "additional_lines_approved": extra["approved"],
        "additional_lines_declined": extra["declined"],
        "declined_work_recovered": extra["recovered"],
        "followup_rate": _rate(_sum(delivered_g, "followed_n"), delivered),
        "followup_rate_warranty": _rate(
            _sum(delivered_g, "warranty_followed_n"), _sum(delivered_g, "warranty_n")
        ),
        "satisfaction_rate": _rate(_sum(fu_g, "satisfied_n"), reached),
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
    }
    if detail:
        result["advisors"] = _advisor_table(
            _fold(opened_g, "advisor_id"),
            _fold(delivered_g, "advisor_id"),
            lines_g,
            _fold(fu_g, "repair_order__advisor_id"),
        )
        result["technicians"] = _technician_table(eff_g, clock_g, attended_by_tech)
        result["trend"] = trend(scope, opened_g, delivered_g, fu_g)
        _attach_names(result)
    return result


def _advisor_table(opened_g, delivered_g, lines_g, fu_g) -> list[dict]:
    rows: dict[int, dict] = defaultdict(dict)
    for r in opened_g:
        rows[r["advisor_id"]].update(opened=r["opened"], from_appointment=r["from_appointment"])
    for r in delivered_g:
        rows[r["advisor_id"]].update(r)
    for r in lines_g:
        rows[r["repair_order__advisor_id"]]["hours"] = r["hours"]
    for r in fu_g:
        if r["repair_order__advisor_id"] is not None:
            rows[r["repair_order__advisor_id"]].update(r)
    out = []
    for uid, r in rows.items():
        delivered = r.get("delivered", 0)
        out.append(
            {
                "user_id": uid,
                "ro_opened": r.get("opened", 0),
                "ro_delivered": delivered,
                "appointment_rate": _rate(r.get("from_appointment", 0), r.get("opened", 0)),
                "hours_per_ro": _per(r.get("hours") or 0, delivered),
                "labour_revenue": _f(r.get("labour")),
                "parts_revenue": _f(r.get("parts")),
                "on_time_delivery_rate": _rate(r.get("on_time_n", 0), delivered),
                "comeback_rate": _rate(r.get("came_back_n", 0), delivered),
                "followup_rate": _rate(r.get("followed_n", 0), delivered),
                "satisfaction_rate": _rate(r.get("satisfied_n", 0), r.get("reached_n", 0)),
            }
        )
    return out


def _technician_table(eff_g, clock_g, attended_by_tech) -> list[dict]:
    rows: dict[int, dict] = defaultdict(dict)
    for r in eff_g:
        rows[r["technician_id"]].update(
            sold=r["sold"] or 0, clocked_finished=(r["clocked_s"] or 0) / 3600.0, jobs=r["jobs"]
        )
    for r in clock_g:
        rows[r["technician_id"]]["clocked"] = (r["clocked_s"] or 0) / 3600.0
    for uid in attended_by_tech:
        rows.setdefault(uid, {})  # every on-duty technician gets a row
    out = []
    for uid, r in rows.items():
        attended = attended_by_tech.get(uid, 0.0)
        out.append(
            {
                "user_id": uid,
                "jobs_finished": r.get("jobs", 0),
                "sold_hours": _f(r.get("sold")),
                "clocked_hours": _f(r.get("clocked")),
                "attended_hours": _f(attended),
                "technician_efficiency": _rate(r.get("sold", 0), r.get("clocked_finished", 0)),
                "technician_productivity": _rate(r.get("clocked", 0), attended),
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


def trend(scope: Scope, opened_g, delivered_g, fu_g) -> dict:
    """Per day (per week, Monday-based, for periods over 62 days): car count, revenue, on-time
    rate and satisfaction, folded from the advisor × day groups (no extra queries)."""
    weekly = scope.days > 62
    buckets = []
    d = _bucket(scope.start, weekly)
    while d <= scope.end:
        buckets.append(d)
        d += dt.timedelta(days=7 if weekly else 1)
    series = {b: {"ro_opened": 0, "ro_delivered": 0, "revenue": 0.0, "on_time": 0} for b in buckets}
    sat = {b: [0, 0] for b in buckets}
    for r in opened_g:
        series[_bucket(r["opened_day"], weekly)]["ro_opened"] += r["opened"]
    for r in delivered_g:
        row = series[_bucket(r["delivered_day"], weekly)]
        row["ro_delivered"] += r["delivered"]
        row["revenue"] += float((r["labour"] or Decimal(0)) + (r["parts"] or Decimal(0)))
        row["on_time"] += r["on_time_n"]
    for r in fu_g:
        b = _bucket(r["day"], weekly)
        if b in sat:
            sat[b][0] += r["satisfied_n"]
            sat[b][1] += r["reached_n"]
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
    return qs.annotate(from_appointment=Q(appointment_id__isnull=False))


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
    "jobs_finished": RecordSet("job", jobs_finished, (), "", "technician_id"),
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
