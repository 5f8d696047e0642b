"""Thin Celery tasks for the archive: take ids, call one service."""

from celery import shared_task

from dms.models import Site

from . import services


@shared_task
def recompute_segments(site_id: int | None = None) -> dict:
    """Beat, nightly (and on demand from the customer list): retention buckets, ABC classes and
    the km-based due dates of every site, or of one site. A second run changes nothing."""
    sites = Site.objects.filter(pk=site_id) if site_id else Site.objects.all()
    result = {}
    for site in sites:
        result[site.code] = {
            "customers_changed": services.segments_recompute(site=site),
            "vehicles_refreshed": services.vehicle_estimates_refresh(site=site),
        }
    return result


@shared_task
def refresh_service_due(site_id: int) -> int:
    """When a site's first-service rule changed: the stored next-service day of every vehicle of
    the site (`services.vehicle_estimates_refresh`). Returns how many vehicles were looked at;
    a second run changes nothing."""
    site = Site.objects.filter(pk=site_id).first()
    return services.vehicle_estimates_refresh(site=site) if site else 0
