"""Thin Celery tasks of the customer pages."""

from celery import shared_task

from . import services


@shared_task
def purge_codes() -> int:
    """Beat, hourly: spent one-time codes past the rate-limit windows are deleted (a second run
    finds nothing)."""
    return services.codes_purge()
