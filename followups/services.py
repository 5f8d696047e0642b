"""Writes of the outreach engine. Every call or message the system schedules goes through here.

Other apps call `task_schedule()` inside the transaction of the event that causes the task, and
`tasks_cancel()` / `tasks_move()` when that event is undone or moved.
"""

from datetime import datetime

from django.db import transaction

from customers.models import Channel
from dms import audit

from .models import CallTask, TaskStatus

PENDING = (TaskStatus.SCHEDULED, TaskStatus.QUEUED, TaskStatus.OPEN)


def task_schedule(
    *,
    site,
    kind: str,
    source_key: str,
    customer,
    due_at: datetime,
    due_until: datetime,
    vehicle=None,
    appointment=None,
    repair_order=None,
    channel: str = Channel.CALL,
    assignee=None,
    message: str = "",
    data: dict | None = None,
) -> tuple[CallTask, bool]:
    """Create the task for (kind, source_key) once; a second call returns the existing row."""
    task, created = CallTask.objects.get_or_create(
        kind=kind,
        source_key=source_key,
        defaults={
            "site": site,
            "customer": customer,
            "vehicle": vehicle,
            "appointment": appointment,
            "repair_order": repair_order,
            "due_at": due_at,
            "due_until": max(due_until, due_at),
            "channel": channel,
            "assignee": assignee,
            "message": message,
            "data": data or {},
        },
    )
    if created:
        audit.record(subject=task, action="scheduled", to_state=task.status, site=site)
    return task, created


@transaction.atomic
def tasks_cancel(*, actor=None, note: str = "", **filters) -> int:
    """Cancel the pending tasks matching `filters` (e.g. appointment=…, kind__in=[…])."""
    count = 0
    for task in CallTask.objects.select_for_update().filter(status__in=PENDING, **filters):
        old = task.status
        task.status = TaskStatus.CANCELLED
        task.save(update_fields=["status", "updated_at"])
        audit.record(
            subject=task,
            action="cancelled",
            actor=actor,
            from_state=old,
            to_state=task.status,
            note=note,
        )
        count += 1
    return count
