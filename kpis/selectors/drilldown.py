"""The drill-down: the records behind each number, as lists the dashboard and its CSV show."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import (
    Q,
    QuerySet,
)

from appointments.models import AppointmentStatus
from workorders.models import JobLine

from .base import (
    ACTIVE_APPOINTMENTS,
    FROM_BOOKING,
    RETENTION_BUCKETS,
    Scope,
    _implausible_time,
    additional_lines,
    appointments_in,
    clock_entries,
    complaints_in,
    due_this_month,
    first_service_due,
    followups_completed,
    jobs_finished,
    retention_customers,
    ros_delivered,
    ros_opened,
)


@dataclass(frozen=True)
class RecordSet:
    kind: str  # ro | appointment | job | clock | task | complaint | vehicle | customer
    build: object  # (scope) -> QuerySet
    flags: tuple[str, ...] = ()  # boolean annotations shown as columns, usable as ?only=
    advisor_path: str = ""
    technician_path: str = ""


RO_FLAGS = ("on_time", "qc_first_pass", "came_back", "followed_up", "in_warranty")


def _with_appointment_flag(qs):
    return qs.annotate(from_appointment=FROM_BOOKING)


RECORD_SETS: dict[str, RecordSet] = {
    "ro_opened": RecordSet(
        "ro",
        lambda s: _with_appointment_flag(ros_opened(s)),
        ("from_appointment",),
        "advisor_id",
    ),
    "ro_delivered": RecordSet("ro", ros_delivered, RO_FLAGS, "advisor_id"),
    "ro_delivered_warranty": RecordSet(
        "ro", lambda s: ros_delivered(s).filter(in_warranty=True), RO_FLAGS, "advisor_id"
    ),
    "ro_qc": RecordSet(
        "ro", lambda s: ros_delivered(s).filter(qc_done=True), RO_FLAGS, "advisor_id"
    ),
    "appointments": RecordSet(
        "appointment",
        lambda s: (
            appointments_in(s)
            .exclude(status=AppointmentStatus.CANCELLED)
            .annotate(arrived=Q(status=AppointmentStatus.ARRIVED))
        ),
        ("arrived",),
        "advisor_id",
    ),
    "appointments_active": RecordSet(
        "appointment",
        lambda s: (
            appointments_in(s)
            .filter(status__in=ACTIVE_APPOINTMENTS)
            .annotate(arrived=Q(status=AppointmentStatus.ARRIVED))
        ),
        ("arrived",),
        "advisor_id",
    ),
    "additional_lines": RecordSet(
        "job",
        lambda s: additional_lines(s).annotate(approved=Q(approval=JobLine.Approval.APPROVED)),
        ("approved", "recovered_later"),
        "repair_order__advisor_id",
        "technician_id",
    ),
    "jobs_finished": RecordSet(
        "job",
        lambda s: jobs_finished(s).annotate(implausible_time=_implausible_time()),
        ("implausible_time",),
        "",
        "technician_id",
    ),
    "clock_entries": RecordSet("clock", clock_entries, (), "", "technician_id"),
    "followups_reached": RecordSet(
        "task",
        lambda s: followups_completed(s).filter(reached=True),
        ("satisfied",),
        "repair_order__advisor_id",
    ),
    "complaints_opened": RecordSet(
        "complaint", lambda s: complaints_in(s).filter(is_opened=True), ("is_overdue",)
    ),
    "complaints_closed": RecordSet("complaint", lambda s: complaints_in(s).filter(is_closed=True)),
    "complaints_overdue": RecordSet(
        "complaint", lambda s: complaints_in(s).filter(is_overdue=True)
    ),
    "first_service_due": RecordSet("vehicle", first_service_due, ("is_captured",)),
    "due_this_month": RecordSet("vehicle", due_this_month),
    **{
        f"retention_{b}": RecordSet("customer", lambda s, b=b: retention_customers(s, b))
        for b in RETENTION_BUCKETS
    },
}


_RELATED = {
    "ro": ("vehicle", "customer", "advisor"),
    "appointment": ("vehicle", "customer", "advisor"),
    "job": ("repair_order__vehicle", "technician"),
    "clock": ("job__repair_order", "technician"),
    "task": ("repair_order_link__repair_order__vehicle", "customer", "assignee"),
    "complaint": ("customer", "repair_order"),
    "vehicle": ("owner",),
    "customer": (),
}


def kpi_records(
    key: str,
    scope: Scope,
    *,
    advisor_id: int | None = None,
    technician_id: int | None = None,
    only: str = "",
) -> tuple[RecordSet, QuerySet]:
    """The records behind a number, with the flags that decide the numerator.

    Raises KeyError for an unknown key; `only` keeps the rows with that flag set."""
    rs = RECORD_SETS[key]
    qs = rs.build(scope)
    if advisor_id and rs.advisor_path:
        qs = qs.filter(**{rs.advisor_path: advisor_id})
    if technician_id and rs.technician_path:
        qs = qs.filter(**{rs.technician_path: technician_id})
    if only and only in rs.flags:
        qs = qs.filter(**{only: True})
    return rs, qs.select_related(*_RELATED[rs.kind]).order_by("-pk")
