"""The KPI rollup refresh as beat runs it: a real Celery worker on Redis computes the closed
days, and the dashboard's figures from the rollup equal the live computation."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from dms.models import Role
from dms.tests.factories import SiteFactory, make_staff
from kpis import selectors, tasks
from kpis.models import KpiDay, KpiRollupState
from tests.conftest import _wait_for
from workorders.models import ROStatus
from workorders.tests.factories import JobLineFactory, RepairOrderFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]


def test_worker_refreshes_the_rollup_and_the_month_reads_the_same(celery_worker):
    # given a site with cars delivered over the last days (site-local), today's one included
    site = SiteFactory(time_zone="Asia/Shanghai")
    advisor = make_staff(role=Role.ADVISOR, site=site, username="roll-adv")
    today = timezone.localtime(timezone.now(), site.tzinfo).date()
    for back in range(0, 6):
        day = today - dt.timedelta(days=back)
        at = dt.datetime.combine(day, dt.time(11), tzinfo=site.tzinfo)
        ro = RepairOrderFactory(
            site=site,
            advisor=advisor,
            opened_day=day,
            status=ROStatus.DELIVERED,
            delivered_day=day,
            delivered_at=at,
            promised_at=at + dt.timedelta(hours=back % 2 * 2 - 1),
            labour_total=Decimal("180") * (back + 1),
        )
        JobLineFactory(repair_order=ro, standard_hours=Decimal(back + 1))
    celery_worker(concurrency=1)

    # when beat's five-minute refresh runs on the worker
    tasks.refresh_kpi_rollups.delay(days=7)
    _wait_for(
        lambda: KpiRollupState.objects.filter(site=site).exists(), timeout=120, what="the refresh"
    )

    # then the site's closed days are rolled up (not today), one row per advisor and day
    state = KpiRollupState.objects.get(site=site)
    assert state.built_through == today - dt.timedelta(days=1)
    assert state.built_from == today - dt.timedelta(days=7)
    assert set(KpiDay.objects.filter(site=site).values_list("day", flat=True)) == {
        today - dt.timedelta(days=b) for b in range(1, 6)
    }
    # and the dashboard's last seven days, read from the rollup plus today live, are the
    # live figures
    scope = selectors.make_scope(site_ids=[site.pk], start=today - dt.timedelta(days=6), end=today)
    assert selectors.rollup_span(scope) == (today - dt.timedelta(days=6), state.built_through)
    rolled = selectors.compute_for_scope(scope, detail=True)
    live = selectors.compute_for_scope(scope, detail=True, use_rollup=False)
    assert rolled == live
    assert rolled["ro_delivered"] == 6

    # and a second run (the next beat tick) writes the same rows again
    before = sorted(KpiDay.objects.filter(site=site).values_list("day", "delivered", "labour"))
    tasks.refresh_kpi_rollups.delay(days=7)
    _wait_for(
        lambda: KpiRollupState.objects.get(site=site).refreshed_at > state.refreshed_at,
        timeout=30,
        what="the second refresh",
    )
    after = sorted(KpiDay.objects.filter(site=site).values_list("day", "delivered", "labour"))
    assert after == before
