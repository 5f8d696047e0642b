"""The computation: every KPI of a period from the daily figures and the base sets, the advisor
and technician tables, the trend, the comparison period; who sees which sites, the period
presets."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models import (
    Count,
    Q,
    Sum,
)
from django.utils.translation import gettext_lazy as _

from appointments.models import AppointmentStatus
from customers.models import Customer
from dms.models import Role, StaffRole
from dms.permissions import has_role, site_ids_of

from .base import (
    ACTIVE_APPOINTMENTS,
    HOURS_TO_CLOSE,
    RETENTION_BUCKETS,
    Complaint,
    Median,
    Scope,
    _f,
    _per,
    _rate,
    _retention_q,
    appointments_in,
    complaint_conditions,
    due_this_month,
    first_service_due,
    make_scope,
    open_days,
)
from .rollup import daily, fold_daily, totals


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
    """The complaint figures, with the conditions in the aggregates' filters: aggregating
    `complaints_in`'s annotated flags made Django hash the nested conditions over and over
    while building the query (~10 ms a dashboard, for a 3 ms statement)."""
    if Complaint is None:  # pragma: no cover
        return {"opened": 0, "closed": 0, "median": None, "overdue": 0}
    c = complaint_conditions(scope)
    return (
        Complaint.objects.filter(site_id__in=scope.site_ids)
        .filter(c["period"])
        .aggregate(
            opened=Count("id", filter=c["is_opened"]),
            closed=Count("id", filter=c["is_closed"]),
            overdue=Count("id", filter=c["is_overdue"]),
            median=Median(HOURS_TO_CLOSE, filter=c["is_closed"]),
        )
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
    if detail:
        d = daily(scope, use_rollup=use_rollup)
        t = {name: fold_daily(rows, key=lambda r: None).get(None, {}) for name, rows in d.items()}
    else:  # the tiles alone: the rolled-up days summed in the database
        t = totals(scope, use_rollup=use_rollup)
    days = open_days(scope)
    attended_by_tech, attended = _attendance(scope, days)
    appt = _appointments(scope)
    comp = _complaints(scope)
    fs = _first_service(scope)
    retention = _retention(scope)
    due_month = due_this_month(scope).count()

    # from the daily figures (rolled up for closed days), not a count over the whole period
    implausible = t["jobs"].get("jobs_implausible", 0)
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
        "declined_work_recovered": extra.get("add_declined_recovered", 0),
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
