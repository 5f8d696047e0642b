"""The daily figures: per person and site-local day, computed live from the base sets or read
from the daily rollup (`KpiDay`), in the same shape, so a period can be split between them."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable

from django.core.cache import cache
from django.db.models import (
    Count,
    F,
    OuterRef,
    Q,
    Subquery,
    Sum,
)
from django.db.models.functions import TruncDate
from django.utils import timezone

from workorders.models import JobLine, PartLine, RepairOrderCallTask, ROStatus

from .base import (
    BILLABLE,
    FROM_BOOKING,
    Scope,
    _additional_base,
    _implausible_time,
    _later_same_work,
    clock_entries,
    followups_completed,
    jobs_finished,
    ros_delivered,
    ros_opened,
)

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
        "add_declined_recovered",
    ),
    "followups": ("reached", "satisfied"),
    "jobs": ("jobs_finished", "jobs_sold_hours", "jobs_clocked_seconds", "jobs_implausible"),
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
    # a follow-up's advisor: its repair order's, through the link by the task's primary key
    ro_advisor = (
        RepairOrderCallTask.objects.filter(task=OuterRef("pk"))
        .order_by()
        .values("repair_order__advisor_id")
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
            # declined, and the same work done on a later visit of the car (as of now: a later
            # visit can come any time, so the refresh recomputes the day's count)
            add_declined_recovered=Count(
                "id", filter=Q(_later_same_work(), approval=JobLine.Approval.DECLINED)
            ),
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
            jobs_implausible=Count("id", filter=_implausible_time()),
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


def _rollup_states(scope: Scope) -> list:
    from kpis.models import KpiRollupState

    return list(KpiRollupState.objects.filter(site_id__in=scope.site_ids).order_by("site_id"))


def rollup_span(scope: Scope, states: list | None = None) -> tuple[dt.date, dt.date] | None:
    """The days of the period every site's rollup holds, or None. Today (and later) is never
    taken from the rollup: it is still changing."""
    if states is None:
        states = _rollup_states(scope)
    if not states or len(states) < len(scope.sites):
        return None
    lo = max([scope.start] + [s.built_from for s in states])
    hi = min([scope.end] + [s.built_through for s in states])
    for site in scope.sites:
        today = scope.today or timezone.localtime(timezone.now(), site.tzinfo).date()
        hi = min(hi, today - dt.timedelta(days=1))
    return (lo, hi) if lo <= hi else None


# How long a read of the rollup is kept. Exact whatever the length: the key holds each site's
# last refresh, and the rollup's rows change only in a refresh, which stamps its site's state in
# the same transaction (kpis.services._refresh_days). The periodic refresh renews the stamps
# every few minutes; the key then changes and the old entry is left to expire.
ROLLUP_READ_SECONDS = 600


def _rollup_key(states: list, lo: dt.date, hi: dt.date) -> str:
    """A cache key for the rollup's rows of [lo, hi] at these states: the states' ids (new after
    a rebuild) and refresh times, so a refresh of any of the sites is a new key."""
    stamp = ";".join(f"{s.site_id}.{s.pk}.{s.refreshed_at.timestamp():.6f}" for s in states)
    digest = hashlib.sha1(stamp.encode(), usedforsecurity=False).hexdigest()
    return f"kpis:rollup:{lo.isoformat()}:{hi.isoformat()}:{digest}"


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


def _live_scopes(scope: Scope, span: tuple[dt.date, dt.date]) -> list[Scope]:
    """The parts of the period outside the rollup's span, computed live."""
    lo, hi = span
    parts = []
    if scope.start < lo:
        parts.append(Scope(scope.sites, scope.start, lo - dt.timedelta(days=1)))
    if hi < scope.end:
        parts.append(Scope(scope.sites, hi + dt.timedelta(days=1), scope.end))
    return parts


def daily(scope: Scope, *, use_rollup: bool = True) -> dict[str, list[dict]]:
    """The daily figures of the period: closed days the rollup holds from it, the rest
    (today, days not rolled up yet) live.

    The rolled-up rows are read through the cache, keyed by the rollup's state (see
    `_rollup_key`): a site's month is ~700 rows of ~30 sums, and reading them into Python was
    about a third of the manager's dashboard (docs/benchmarks.md)."""
    states = _rollup_states(scope) if use_rollup else []
    span = rollup_span(scope, states) if use_rollup else None
    if span is None:
        return live_daily(scope)
    key = _rollup_key(states, *span)
    rolled = cache.get(key)
    if rolled is None:
        rolled = rollup_daily(scope, *span)
        cache.set(key, rolled, ROLLUP_READ_SECONDS)
    parts = [rolled] + [live_daily(p) for p in _live_scopes(scope, span)]
    return {name: [row for p in parts for row in p[name]] for name in DAILY_FIELDS}


def rollup_totals(scope: Scope, lo: dt.date, hi: dt.date) -> dict[str, dict]:
    """The figures of [lo, hi] from the rollup summed over the scope's sites, people and days
    in the database: one row, however many sites and days (a month of 20 sites is ~14,000
    rollup rows, which `rollup_daily` would carry into Python one by one)."""
    from kpis.models import KpiDay

    names = [f for fields in DAILY_FIELDS.values() for f in fields]
    row = KpiDay.objects.filter(site_id__in=scope.site_ids, day__range=(lo, hi)).aggregate(
        **{n: Sum(n) for n in names}
    )
    return {
        family: {f: row[f] for f in fields if row[f] is not None}
        for family, fields in DAILY_FIELDS.items()
    }


def totals(scope: Scope, *, use_rollup: bool = True) -> dict[str, dict]:
    """The period's figures summed over sites, people and days ({family: {figure: sum}}), as
    `fold_daily` sums `daily()`, without reading the rolled-up days row by row. For the tiles
    alone; the tables and the trend need `daily()`."""
    span = rollup_span(scope) if use_rollup else None
    if span is None:
        parts = [_fold_totals(live_daily(scope))]
    else:
        parts = [rollup_totals(scope, *span)]
        parts += [_fold_totals(live_daily(p)) for p in _live_scopes(scope, span)]
    out: dict[str, dict] = {name: {} for name in DAILY_FIELDS}
    for part in parts:
        for family, sums in part.items():
            acc = out[family]
            for k, v in sums.items():
                acc[k] = acc.get(k, 0) + v
    return out


def _fold_totals(d: dict[str, list[dict]]) -> dict[str, dict]:
    return {name: fold_daily(rows, key=lambda r: None).get(None, {}) for name, rows in d.items()}


def fold_daily(rows: Iterable[dict], key=lambda r: r["user_id"]) -> dict:
    """Sum daily rows per `key(row)` (by default the person): {key: {figure: sum}}."""
    out: dict = {}
    for r in rows:
        acc = out.setdefault(key(r), {})
        for k, v in r.items():
            if k not in ("user_id", "day") and v is not None:
                acc[k] = acc.get(k, 0) + v
    return out
