"""The calls and messages about a repair order. The outreach engine schedules them and knows
nothing of repair orders: which repair order a task is about is kept here
(`RepairOrderCallTask`), and the RO's advisor (whom the engine never gives the call) travels in
the task's data."""

from __future__ import annotations

from outreach.services import task_schedule

from ..models import RepairOrder, RepairOrderCallTask


def task_link(*, task, repair_order: RepairOrder) -> None:
    """Record that call task `task` is about `repair_order` (a task has at most one)."""
    RepairOrderCallTask.objects.update_or_create(task=task, defaults={"repair_order": repair_order})


def task_schedule_for(repair_order: RepairOrder | None, *, data: dict | None = None, **fields):
    """`outreach.services.task_schedule` for a task about `repair_order` (None: about no RO):
    the task is linked to it when made, and carries the RO's advisor. Returns (task, created)."""
    data = dict(data or {})
    if repair_order is not None:
        data.setdefault("advisor_id", repair_order.advisor_id)
    task, created = task_schedule(data=data, **fields)
    if created and repair_order is not None:
        task_link(task=task, repair_order=repair_order)
    return task, created
