"""Writes for the KPI dashboard: the daily rollup (KpiDay) that lets a month be read as ~30
rows per person instead of being recomputed from tens of thousands of source rows.

A day's rollup rows are always recomputed whole from the source rows by the same queries the
live dashboard runs (selectors.live_daily), so the rolled-up figures equal the live ones. Closed
days still change after they close — a follow-up completed 2–5 days after delivery, a comeback
opened or confirmed up to weeks later, a cancellation — so the periodic refresh recomputes a
trailing window of days, not only yesterday (see docs/kpis.md, "Daily rollup").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from dms.models import Site
from kpis import selectors
from kpis.models import KpiDay, KpiRollupState

# How far back the periodic refresh recomputes closed days (dms/celery.py schedules it): the
# last week every 5 minutes (follow-up calls complete within their 2–5-day window), the last 35
# days hourly (comebacks are opened within the comeback window, 20 days by default) and the last
# 400 days nightly (a repair order open for weeks that is extended or cancelled late).
RECENT_DAYS = 7
CHUNK_DAYS = 31


def _site_today(site: Site, today: dt.date | None) -> dt.date:
    return today or timezone.localtime(timezone.now(), site.tzinfo).date()


def _rows_for(site: Site, start: dt.date, end: dt.date) -> list[KpiDay]:
    scope = selectors.Scope((site,), start, end)
    daily = selectors.live_daily(scope)
    merged = selectors.fold_daily(
        (r for rows in daily.values() for r in rows), key=lambda r: (r["day"], r["user_id"] or 0)
    )
    return [
        KpiDay(site=site, day=day, user_id=user_id, **values)
        for (day, user_id), values in merged.items()
    ]


def _refresh_days(site: Site, start: dt.date, end: dt.date) -> int:
    """Replace the rollup rows of [start, end] with freshly computed ones; extend the span."""
    written = 0
    a = start
    while a <= end:
        b = min(end, a + dt.timedelta(days=CHUNK_DAYS - 1))
        with transaction.atomic():
            state = KpiRollupState.objects.select_for_update().filter(site=site).first()
            rows = _rows_for(site, a, b)
            KpiDay.objects.filter(site=site, day__range=(a, b)).delete()
            KpiDay.objects.bulk_create(rows, batch_size=1000)
            written += len(rows)
            now = timezone.now()
            if state is None:
                KpiRollupState.objects.create(
                    site=site, built_from=a, built_through=b, refreshed_at=now
                )
            else:
                state.built_from = min(state.built_from, a)
                state.built_through = max(state.built_through, b)
                state.refreshed_at = now
                state.save(update_fields=["built_from", "built_through", "refreshed_at"])
        a = b + dt.timedelta(days=1)
    return written


def kpi_rollups_refresh(
    *,
    site_ids: Iterable[int] | None = None,
    days: int = RECENT_DAYS,
    since: dt.date | None = None,
    today: dt.date | None = None,
) -> dict[int, int]:
    """Recompute the rollup of each site's last `days` closed days (or every day from `since`)
    up to yesterday, site-local. Days between the site's span and the window are filled too,
    so the span never has a hole. Returns rows written per site."""
    sites = Site.objects.order_by("pk")
    if site_ids is not None:
        sites = sites.filter(pk__in=list(site_ids))
    out = {}
    for site in sites:
        last = _site_today(site, today) - dt.timedelta(days=1)
        first = since or last - dt.timedelta(days=days - 1)
        state = KpiRollupState.objects.filter(site=site).first()
        if state is not None and state.built_from <= first:
            # no hole between what the rollup holds and the window
            first = min(first, state.built_through + dt.timedelta(days=1))
        if first > last:
            out[site.pk] = 0
            continue
        out[site.pk] = _refresh_days(site, first, last)
    return out


def kpi_rollups_rebuild(
    *, site_ids: Iterable[int] | None = None, since: dt.date, today: dt.date | None = None
) -> dict[int, int]:
    """Drop and recompute the rollup of the sites from `since` to yesterday."""
    sites = Site.objects.order_by("pk")
    if site_ids is not None:
        sites = sites.filter(pk__in=list(site_ids))
    ids = list(sites.values_list("pk", flat=True))
    with transaction.atomic():
        KpiDay.objects.filter(site_id__in=ids).delete()
        KpiRollupState.objects.filter(site_id__in=ids).delete()
    return kpi_rollups_refresh(site_ids=ids, since=since, today=today)
