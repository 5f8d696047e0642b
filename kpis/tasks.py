"""Periodic work of the project-wide pieces (the KPI dashboard's daily rollup)."""

from celery import shared_task

from dms.kpis import services


@shared_task(acks_late=True)
def refresh_kpi_rollups(days: int = services.RECENT_DAYS) -> dict:
    """Recompute every site's KPI rollup for its last `days` closed days (idempotent: a day is
    always recomputed whole from the source rows)."""
    written = services.kpi_rollups_refresh(days=days)
    return {"sites": len(written), "rows": sum(written.values())}
