"""Will the car be ready by the time promised to the customer? One rule for the repair order
list and page (the advisor) and the workshop board (the dispatcher).

"late": the promised time has passed and the car is not ready; "at_risk": the agreed work still
to do (standard hours less what was already clocked, per unfinished job) is more than the time
left; "ok" otherwise; "" without a promise or once the car is ready (or gone)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from django.db.models import DecimalField, ExpressionWrapper, F, Sum, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from .models import AGREED_APPROVALS, JobLine, RepairOrder, ROStatus

S = ROStatus
# The repair orders still needing workshop hours: their remaining work counts against the time
# left. After the work (QC, washing) nothing is left to do but the promise can still pass.
WORKSHOP_STATUSES = (S.AUTHORIZED, S.IN_PROGRESS, S.WAITING_APPROVAL, S.WAITING_PARTS, S.REWORK)
DONE_STATUSES = (S.READY, S.INVOICED, S.DELIVERED, S.CANCELLED)
ZERO = Decimal("0")


def promise_risk(
    *, promised_at: datetime | None, now: datetime, remaining_hours: Decimal, status: str = ""
) -> str:
    """ "late", "at_risk", "ok" or "" (see the module)."""
    if promised_at is None or status in DONE_STATUSES:
        return ""
    if now >= promised_at:
        return "late"
    hours_left = Decimal((promised_at - now).total_seconds()) / Decimal(3600)
    if remaining_hours > hours_left:
        return "at_risk"
    return "ok"


def job_remaining_hours(
    *, approval: str, work_status: str, standard_hours: Decimal, actual_hours: Decimal
) -> Decimal:
    """One job's standard hours still to do: agreed and unfinished, less what was clocked."""
    if approval in AGREED_APPROVALS and work_status != JobLine.WorkStatus.DONE:
        return max(standard_hours - actual_hours, ZERO)
    return ZERO


def remaining_hours_of(jobs: Iterable[JobLine]) -> Decimal:
    """The agreed work still to do on a repair order's jobs."""
    return sum(
        (
            job_remaining_hours(
                approval=job.approval,
                work_status=job.work_status,
                standard_hours=job.standard_hours,
                actual_hours=job.actual_hours,
            )
            for job in jobs
        ),
        ZERO,
    )


def remaining_hours_by_ro(ro_ids: Iterable[int]) -> dict[int, Decimal]:
    """{repair order id: agreed work still to do} for a page of repair orders, in one query."""
    left = ExpressionWrapper(
        Greatest(F("standard_hours") - F("actual_hours"), Value(ZERO)),
        output_field=DecimalField(max_digits=8, decimal_places=2),
    )
    rows = (
        JobLine.objects.filter(repair_order_id__in=list(ro_ids), approval__in=AGREED_APPROVALS)
        .exclude(work_status=JobLine.WorkStatus.DONE)
        .values("repair_order_id")
        .annotate(left=Coalesce(Sum(left), Value(ZERO)))
        .order_by()
    )
    return {row["repair_order_id"]: row["left"] for row in rows}


def ro_promise_risk(
    ro: RepairOrder, *, now: datetime | None = None, remaining_hours: Decimal | None = None
) -> str:
    """The rule for one repair order; `remaining_hours`: its agreed work still to do (read
    from its lines when None). Only the workshop's states count it."""
    now = now or timezone.now()
    if ro.promised_at is None or ro.status in DONE_STATUSES:
        return ""
    if ro.status not in WORKSHOP_STATUSES:
        remaining = ZERO
    elif remaining_hours is None:
        remaining = remaining_hours_of(ro.lines.all())
    else:
        remaining = remaining_hours
    return promise_risk(
        promised_at=ro.promised_at, now=now, remaining_hours=remaining, status=ro.status
    )


def promise_risks(ros: Iterable[RepairOrder], *, now: datetime | None = None) -> dict[int, str]:
    """{repair order id: risk} for a page of repair orders (the RO list): one query for their
    remaining work."""
    ros = list(ros)
    now = now or timezone.now()
    remaining = remaining_hours_by_ro(ro.pk for ro in ros)
    return {
        ro.pk: ro_promise_risk(ro, now=now, remaining_hours=remaining.get(ro.pk, ZERO))
        for ro in ros
    }
