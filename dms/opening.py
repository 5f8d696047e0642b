"""When a site is open: a day is open when the site has opening hours that weekday and it is
not one of its closed dates. The one rule the booking calendar (`appointments.selectors`), the
contact window (`outreach.contact`) and the KPIs' open days ask."""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, time, timedelta

from django.db.models import DateField, IntegerField, TimeField, Value

from .models import ClosedDate, OpeningHours, Site

Hours = tuple[time, time]


def open_hours(
    first: date, last: date, *, hours: Mapping[int, Hours], closed: Iterable[date]
) -> dict[date, Hours]:
    """{day: (opens, closes)} for the open days in [first, last], from a site's opening hours
    by weekday and its closed dates."""
    closed = set(closed)
    out, day = {}, first
    while day <= last:
        if day.weekday() in hours and day not in closed:
            out[day] = hours[day.weekday()]
        day += timedelta(days=1)
    return out


def site_calendar(
    site: Site, first: date, last: date, *, closed: Iterable[date] | None = None
) -> dict[date, Hours]:
    """A site's open days in [first, last] with their hours (one query; `closed`: the site's
    closed dates, when already read; prefetched opening hours are used)."""
    prefetched = "opening_hours" in getattr(site, "_prefetched_objects_cache", {})
    if prefetched or closed is not None:
        hours = {oh.weekday: (oh.opens, oh.closes) for oh in site.opening_hours.all()}
        if closed is None:
            closed = ClosedDate.objects.filter(site=site, date__range=(first, last)).values_list(
                "date", flat=True
            )
        return open_hours(first, last, hours=hours, closed=closed)
    hours, closed = {}, []
    for weekday, opens, closes, closed_date in _hours_and_closed_dates(site, first, last):
        if closed_date is None:
            hours[weekday] = (opens, closes)
        else:
            closed.append(closed_date)
    return open_hours(first, last, hours=hours, closed=closed)


def _hours_and_closed_dates(site: Site, first: date, last: date):
    """The site's opening hours (weekday, opens, closes, None) and its closed dates in [first,
    last] (None, None, None, date) in one statement (UNION ALL). Availability, the front desk's
    day and a booking ask both on every request; each round trip is one more wait for a core
    under load (docs/benchmarks.md, 2026-12-07 16:20). No ordering: the opening hours' default
    one joins the site to order one site's rows by its name."""
    hours = (
        OpeningHours.objects.filter(site=site)
        .order_by()
        .values_list("weekday", "opens", "closes", Value(None, output_field=DateField()))
    )
    closed = (
        ClosedDate.objects.filter(site=site, date__range=(first, last))
        .order_by()
        .values_list(
            Value(None, output_field=IntegerField()),
            Value(None, output_field=TimeField()),
            Value(None, output_field=TimeField()),
            "date",
        )
    )
    return hours.union(closed, all=True)


def open_days_of_sites(site_ids: Iterable[int], first: date, last: date) -> dict[int, list[date]]:
    """Per site, its open days in [first, last] (two queries for every site)."""
    site_ids = list(site_ids)
    hours: dict[int, dict[int, Hours]] = defaultdict(dict)
    for site_id, weekday, opens, closes in OpeningHours.objects.filter(
        site_id__in=site_ids
    ).values_list("site_id", "weekday", "opens", "closes"):
        hours[site_id][weekday] = (opens, closes)
    closed: dict[int, set[date]] = defaultdict(set)
    for site_id, day in ClosedDate.objects.filter(
        site_id__in=site_ids, date__range=(first, last)
    ).values_list("site_id", "date"):
        closed[site_id].add(day)
    return {
        site_id: list(open_hours(first, last, hours=hours[site_id], closed=closed[site_id]))
        for site_id in site_ids
    }
