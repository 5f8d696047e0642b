"""Thin Celery tasks for appointments: take ids, call one service."""

from celery import shared_task

from . import services


@shared_task
def mark_no_shows() -> int:
    """Beat, every minute: appointments past their slot plus the grace period become no-shows.

    Idempotent: a second run finds nothing left to mark."""
    return services.appointments_mark_no_show()
