"""Thin Celery tasks: take ids, call one service.

The names predate the outreach app (it was part of followups): beat schedules and messages
already queued use them, so every task keeps its `followups.tasks.*` name."""

from celery import shared_task
from django.utils import timezone

from . import services, sweeper, webhooks
from .backends import TransientSendError
from .models import WebhookDelivery
from .queue import DELIVER_WEBHOOK, DISPATCH_BATCH, DISPATCH_TASK, SWEEP_DUE_TASKS


@shared_task(name=SWEEP_DUE_TASKS)
def sweep_due_tasks() -> dict:
    """Beat, every minute: expire closed windows, claim due rows (SKIP LOCKED), enqueue them;
    then the steps the apps above registered (complaint escalation) and the webhook
    deliveries that are due."""
    result = services.outreach_sweep()
    result.update(sweeper.run_steps())
    result["webhooks"] = webhooks.deliveries_sweep()
    return result


@shared_task(
    name=DISPATCH_TASK,
    autoretry_for=(TransientSendError,),
    retry_backoff=30,
    retry_backoff_max=1800,
    max_retries=6,
)
def dispatch_task(task_id: int) -> str:
    return services.task_dispatch(task_id=task_id)


@shared_task(name=DISPATCH_BATCH)
def dispatch_batch(task_ids: list[int]) -> dict:
    """One claimed batch from the sweeper; each task acted on once (see `tasks_dispatch`)."""
    return services.tasks_dispatch(task_ids=task_ids)


@shared_task(name=DELIVER_WEBHOOK, bind=True, max_retries=None)
def deliver_webhook(self, delivery_id: int) -> str:
    """POST one webhook delivery; on failure retry with the delivery's exponential backoff."""
    result = webhooks.delivery_attempt(delivery_id=delivery_id)
    if result == "retry":
        due = WebhookDelivery.objects.values_list("next_attempt_at", flat=True).get(pk=delivery_id)
        countdown = max((due - timezone.now()).total_seconds(), 0)
        if countdown <= webhooks.BACKOFF_MAX_SECONDS:
            raise self.retry(countdown=countdown)
    return result
