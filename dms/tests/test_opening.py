"""One rule of when a site is open (`dms.opening`): the booking calendar, the contact window and
the KPIs' open days give the same days — opening hours that weekday, no closed date."""

from datetime import date, time

import pytest

from appointments.selectors import opening_of
from dms.models import ClosedDate, OpeningHours
from dms.opening import open_days_of_sites, site_calendar
from dms.tests.factories import SiteFactory
from kpis.selectors import make_scope, open_days
from outreach import contact

pytestmark = pytest.mark.django_db

FIRST, LAST = date(2026, 3, 1), date(2026, 3, 14)  # Sunday 1 March to Saturday 14 March


def _site(weekdays, closed=()):
    site = SiteFactory(hours=[])
    for wd in weekdays:
        OpeningHours.objects.create(site=site, weekday=wd, opens=time(8), closes=time(18))
    for day in closed:
        ClosedDate.objects.create(site=site, date=day, reason="holiday")
    return site


def test_every_caller_gives_the_same_open_days():
    # open Monday to Saturday, closed on Thursday 5 March; another site open on weekdays only
    shop = _site(range(6), closed=[date(2026, 3, 5)])
    other = _site(range(5))
    expected = [
        date(2026, 3, d) for d in (2, 3, 4, 6, 7, 9, 10, 11, 12, 13, 14)
    ]  # no Sundays, not the 5th
    assert list(site_calendar(shop, FIRST, LAST)) == expected
    assert contact.open_days(shop, FIRST, LAST) == expected
    by_site = open_days(make_scope(site_ids=[shop.pk, other.pk], start=FIRST, end=LAST))
    assert by_site[shop.pk] == expected
    assert by_site[other.pk] == [date(2026, 3, d) for d in (2, 3, 4, 5, 6, 9, 10, 11, 12, 13)]
    assert open_days_of_sites([shop.pk, other.pk], FIRST, LAST) == by_site
    # and the booking calendar opens on those days only, with their hours
    assert opening_of(shop, date(2026, 3, 5)) is None
    assert opening_of(shop, date(2026, 3, 8)) is None  # a Sunday
    assert opening_of(shop, date(2026, 3, 6)) == (time(8), time(18))


def test_a_sites_calendar_is_one_query_with_each_days_hours():
    """Opening hours and closed dates in one statement, with each weekday's own hours, a
    closed date outside the range ignored and a prefetch used as before."""
    from django.db import connection
    from django.db.models import Prefetch
    from django.test.utils import CaptureQueriesContext

    from dms.models import Site

    shop = _site([], closed=[date(2026, 3, 5), date(2026, 3, 20)])
    OpeningHours.objects.create(site=shop, weekday=0, opens=time(8, 30), closes=time(17, 45))
    OpeningHours.objects.create(site=shop, weekday=3, opens=time(9), closes=time(12))
    OpeningHours.objects.create(site=shop, weekday=5, opens=time(10), closes=time(15))
    with CaptureQueriesContext(connection) as ctx:
        got = site_calendar(shop, FIRST, date(2026, 3, 21))
    assert len(ctx.captured_queries) == 1
    expected = {
        date(2026, 3, 2): (time(8, 30), time(17, 45)),
        date(2026, 3, 7): (time(10), time(15)),
        date(2026, 3, 9): (time(8, 30), time(17, 45)),
        date(2026, 3, 12): (time(9), time(12)),
        date(2026, 3, 14): (time(10), time(15)),
        date(2026, 3, 16): (time(8, 30), time(17, 45)),
        date(2026, 3, 19): (time(9), time(12)),
        # the 20th is closed
        date(2026, 3, 21): (time(10), time(15)),
    }
    assert got == expected
    # a closed date only just outside the range changes nothing inside it
    assert site_calendar(shop, FIRST, date(2026, 3, 19)) == {
        d: h for d, h in expected.items() if d <= date(2026, 3, 19)
    }
    prefetched = Site.objects.prefetch_related(Prefetch("opening_hours")).get(pk=shop.pk)
    assert site_calendar(prefetched, FIRST, date(2026, 3, 21)) == expected
