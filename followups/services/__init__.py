"""Writes of the follow-up desk and complaints, one module per step, re-exported here so that
callers keep one import (`from followups import services`).

- desk.py: the follow-up call after delivery, who may make which call, recording an outcome,
  the customer's online survey answer
- complaints.py: opening, handling, deciding, resolving, confirming and escalating complaints

Scheduling, claiming and contacting (the contact rule, the sweeper and the workers) belong to the
outreach engine: `outreach.services`, `outreach.contact`."""

from .complaints import (
    COMPLAINT_OPENERS,
    complaint_assign,
    complaint_confirm,
    complaint_contact,
    complaint_decide,
    complaint_open,
    complaint_resolve,
    complaints_escalate,
)
from .desk import (
    CALLER_ROLES,
    DEFAULT_CALLER_ROLES,
    REMINDER_KINDS,
    REMINDER_OUTCOMES,
    RETRY_AFTER,
    SURVEY_CHANNEL,
    call_task_assign,
    call_task_record_outcome,
    caller_roles,
    followup_record_survey,
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
    "SURVEY_CHANNEL",
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
    "followup_record_survey",
    "followup_schedule_for_delivery",
    "followup_window",
]
