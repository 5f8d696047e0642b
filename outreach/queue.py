"""Handing work to the Celery workers by task name.

The services and the webhook sender enqueue the engine's tasks (always after commit); the tasks
call the services. Sending by name keeps that a one-way street (tasks → services → queue) with
no import circle. The names are the tasks' registered names (see tasks.py)."""

from celery import current_app

SWEEP_DUE_TASKS = "followups.tasks.sweep_due_tasks"
DISPATCH_TASK = "followups.tasks.dispatch_task"
DISPATCH_BATCH = "followups.tasks.dispatch_batch"
DELIVER_WEBHOOK = "followups.tasks.deliver_webhook"


def enqueue(name: str, *args, countdown: float | None = None) -> None:
    """Send one message for task `name` with positional `args`; raises if the broker is down
    (callers decide what waits for the next sweep)."""
    current_app.send_task(name, args=args, countdown=countdown)
