"""Thin Celery tasks: take ids, call one service."""

from celery import shared_task

from . import services


@shared_task
def deliver(message_id: int) -> str:
    """Send one queued message (once: a row no longer `queued` is skipped)."""
    return services.message_deliver(message_id=message_id)


@shared_task
def reconcile(message_id: int) -> str:
    """Ask the provider about a message left `sending`."""
    return services.message_reconcile(message_id=message_id)


@shared_task
def sweep() -> dict:
    """Beat, every minute: lost hand-outs, waits that ended, messages to reconcile."""
    return services.messages_sweep()
