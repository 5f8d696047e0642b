"""Writes of the follow-up desk and complaints, one module per step, re-exported here so that
callers keep one import (`from followups import services`).

- desk.py: the follow-up call after delivery, who may make which call, recording an outcome
- complaints.py: opening, handling, deciding, resolving, confirming and escalating complaints

Scheduling, claiming and contacting (the calendar, consent, quiet hours, the sweeper and the
workers) belong to the outreach engine: `outreach.services`."""

from .complaints import (
    COMPLAINT_OPENERS,
    complaint_assign,
    complaint_confirm,
    complaint_contact,
    complaint_decide,
    complaint_open,
    complaint_resolve,
    complaints_escalate,
    next_call_start,
)
from .desk import (
    CALLER_ROLES,
    DEFAULT_CALLER_ROLES,
    REMINDER_KINDS,
    REMINDER_OUTCOMES,
    RETRY_AFTER,
    call_task_assign,
    call_task_record_outcome,
    caller_roles,
    followup_schedule_for_delivery,
    followup_window,
)

__all__ = [
    "CALLER_ROLES",
    "COMPLAINT_OPENERS",
    "DEFAULT_CALLER_ROLES",
    "REMINDER_KINDS",
    "REMINDER_OUTCOMES",
    "RETRY_AFTER",
    "call_task_assign",
    "call_task_record_outcome",
    "caller_roles",
    "complaint_assign",
    "complaint_confirm",
    "complaint_contact",
    "complaint_decide",
    "complaint_open",
    "complaint_resolve",
    "complaints_escalate",
    "followup_schedule_for_delivery",
    "followup_window",
    "next_call_start",
]
