"""When a site is open: a day is open when the site has opening hours that weekday and it is
not one of its closed dates. The one rule the booking calendar (`appointments.selectors`), the
contact window (`outreach.contact`) and the KPIs' open days ask."""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, time, timedelta

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
    """A site's open days in [first, last] with their hours (two queries; `closed`: the
    site's closed dates, when already read; prefetched opening hours are used)."""
    hours = {oh.weekday: (oh.opens, oh.closes) for oh in site.opening_hours.all()}
    if closed is None:
        closed = ClosedDate.objects.filter(site=site, date__range=(first, last)).values_list(
            "date", flat=True
        )
    return open_hours(first, last, hours=hours, closed=closed)


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
