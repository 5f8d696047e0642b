"""When a vehicle's next service falls due: the one rule behind every "due this month".

A service falls due by date (the next-service date the workshop set at the last delivery, else
the last service or the purchase plus the service interval in months) or by mileage (the
next-service km, else the last service's km plus the interval, reached on the day the projected
odometer gets there), whichever comes first. A new car sold by the site that has not come for its
first service is due for it: the months or the km of the site's first-service rule, whichever
comes first, unless a date was set. Proactive care owns that rule (a `care.ReminderRule` per
site) and registers it here (`register_first_service_rule`); without it, or for a site with no
figures, the first service falls due 3 months or 5,000 km after the purchase.

Mileage is projected from the vehicle's own history: its readings are the purchase (0 km, for a
new car sold by the site), the first and last odometer on its repair orders, the first and last
mileage reading of the archive (desk, intake, import) and the vehicle's current reading. The
daily rate is the distance between the oldest and the newest reading divided by the days between
them; with less than `MIN_SPAN_DAYS` of history the default rate is used. A reading lower than
an earlier one (a typo, a replaced instrument cluster) is left out of the rate, and every projected
day is bounded (`MAX_PROJECTION_DAYS`, `date.min`/`date.max`), so no stored value can make a
page fail.

The due day depends only on what is stored about the vehicle (not on today), so it is stored on
the vehicle (`Vehicle.service_due_on`, with `km_per_day` and `km_due_on`) whenever its history
changes (`customers.services.vehicle_estimates_update`), nightly, and for every vehicle of a site
whose first-service rule changed (`customers.tasks.refresh_service_due`); every list of vehicles
due in a month — the archive's, proactive care's, the KPI tile — reads that one column
(`customers.selectors.due_this_month`), and proactive care's nightly run calls about the day this
same function gives with the same first-service rule (`iter_service_due`). The repair orders'
part of the history (odometers, the last delivered service, a first service seen) comes from the
reader workorders registers in `customers.history`.
"""

import calendar
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import OuterRef, QuerySet, Subquery
from django.utils.translation import gettext_lazy as _

from dms.models import Site

from . import history
from .models import MileageReading, Vehicle

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
    readings = MileageReading.objects.filter(vehicle=OuterRef("pk"))
    first_mr = readings.order_by("read_on", "id")
    last_mr = readings.order_by("-read_on", "-id")
    qs = qs.annotate(
        first_mr_day=Subquery(first_mr.values("read_on")[:1]),
        first_mr_km=Subquery(first_mr.values("km")[:1]),
        last_mr_day=Subquery(last_mr.values("read_on")[:1]),
        last_mr_km=Subquery(last_mr.values("km")[:1]),
    )
    # first_ro_day/_km, last_ro_day/_km, last_service_day/_km, first_service_seen
    return history.with_service_history(qs).select_related("owner")


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


@dataclass(frozen=True)
class FirstServiceRule:
    """When a new car sold by the site has its first service: `months` after the purchase or at
    `km`, whichever comes first."""

    months: int = FIRST_SERVICE_MONTHS
    km: int = FIRST_SERVICE_KM


FirstServiceFigures = tuple[int | None, int | None] | None
_first_service_rules: dict[str, Callable[[int], FirstServiceFigures]] = {}


def register_first_service_rule(provider: Callable[[int], FirstServiceFigures]) -> None:
    """Register where a site's first-service rule comes from: `provider(site_id)` answers the
    site's (months, km), either of them None for the default, or None when the site has none.
    Proactive care registers its first-service reminder rule; registering again replaces it."""
    _first_service_rules["provider"] = provider


def first_service_rule(site_id: int) -> FirstServiceRule:
    """The site's first-service rule (one query when care is installed); the defaults without
    one."""
    provider = _first_service_rules.get("provider")
    months, km = (provider(site_id) if provider else None) or (None, None)
    return FirstServiceRule(months=months or FIRST_SERVICE_MONTHS, km=km or FIRST_SERVICE_KM)


def first_service_pending(v) -> bool:
    """A new car sold by the site that has not yet come for its first service."""
    return bool(v.sold_by_site and not v.first_service_done and not v.first_service_seen)


def service_due(
    v, *, today: date, first_service: FirstServiceRule | None = None
) -> ServiceDue | None:
    """When the next service of an annotated vehicle (`with_history`) falls due: by date or by
    projected mileage, whichever comes first. None when nothing is known about the vehicle.
    `first_service`: the site's first-service rule, when already read (else it is read)."""
    readings = _readings_of(v)
    projected = project(readings, today)
    if first_service_pending(v):
        rule = first_service or first_service_rule(v.site_id)
        by_date, by_km = _first_service_days(v, readings, rule, today=today, pending=True)
        return _first_of(v, by_date, by_km, rule.km, projected, first=True, cycle="first")

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


def _first_service_days(v, readings, rule: FirstServiceRule, *, today: date, pending: bool):
    """(by date, by km) of a new car's first service under the site's rule: the rule's months
    after the purchase (a next-service date set while it is pending wins) and the day the
    projected odometer reaches the rule's km."""
    by_date = (v.next_service_due_date if pending else None) or (
        add_months(v.purchase_date, rule.months) if v.purchase_date else None
    )
    by_km = day_reaching(readings, rule.km, today=today) if v.purchase_date else None
    return by_date, by_km


def first_service_due_on(
    v, *, today: date, first_service: FirstServiceRule | None = None
) -> date | None:
    """The day a new car sold by the site has its first service due, by the same rule as the
    due lists (`service_due` of a car still waiting for it gives this day); also for a car that
    has had it, so the KPI's first-service capture asks the same rule about past periods. None
    for a car not sold by the site or without a purchase date."""
    if not (v.sold_by_site and v.purchase_date):
        return None
    rule = first_service or first_service_rule(v.site_id)
    by_date, by_km = _first_service_days(
        v, _readings_of(v), rule, today=today, pending=first_service_pending(v)
    )
    return min(d for d in (by_date, by_km) if d is not None)


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


def iter_service_due(*, site: Site, today: date) -> Iterator[ServiceDue]:
    """Every vehicle of the site with its next service due, by the site's first-service rule
    (streamed in chunks)."""
    rule = first_service_rule(site.pk)
    qs = with_history(Vehicle.objects.filter(site=site, owner__merged_into__isnull=True))
    for v in qs.order_by("id").iterator(chunk_size=2000):
        due = service_due(v, today=today, first_service=rule)
        if due is not None:
            yield due


# --- what is stored on the vehicle -------------------------------------------------------------
MAX_STORED_KM_PER_DAY = Decimal("99999.9")  # the column's range; beyond it the readings are wrong


@dataclass(frozen=True)
class Estimates:
    """What the vehicle keeps of the rule: the daily rate, the day the next-service km is
    reached, the day the next service falls due, the day its first service falls (or fell) due
    (none of them depends on today)."""

    km_per_day: Decimal
    km_due_on: date | None
    service_due_on: date | None
    first_service_due_on: date | None = None


def estimates(v, *, today: date, first_service: FirstServiceRule | None = None) -> Estimates:
    """The stored estimates of an annotated vehicle (`with_history`); `first_service`: its
    site's first-service rule, when already read (else it is read)."""
    readings = _readings_of(v)
    rate = min(Decimal(str(km_per_day(readings))).quantize(Decimal("0.1")), MAX_STORED_KM_PER_DAY)
    km_due_on = None
    if v.next_service_due_km and readings:
        km_due_on = day_reaching(readings, v.next_service_due_km, today=today)
    if v.sold_by_site and v.purchase_date and first_service is None:
        first_service = first_service_rule(v.site_id)  # read once for both days
    due = service_due(v, today=today, first_service=first_service)
    return Estimates(
        km_per_day=rate,
        km_due_on=km_due_on,
        service_due_on=due.due_on if due else None,
        first_service_due_on=first_service_due_on(v, today=today, first_service=first_service),
    )
