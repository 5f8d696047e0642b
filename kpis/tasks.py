"""Periodic work of the KPI dashboard: the daily rollup."""

from celery import shared_task

from kpis import services


# the name predates the kpis app: beat schedules and queued messages use it
@shared_task(name="dms.tasks.refresh_kpi_rollups", acks_late=True)
def refresh_kpi_rollups(days: int = services.RECENT_DAYS) -> dict:
    """Recompute every site's KPI rollup for its last `days` closed days (idempotent: a day is
    always recomputed whole from the source rows)."""
    written = services.kpi_rollups_refresh(days=days)
    return {"sites": len(written), "rows": sum(written.values())}
