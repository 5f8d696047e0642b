"""Writes on the repair order, one module per step of the flow, re-exported here so callers
keep one import (`from workorders import services`):

- common.py: the row lock, the checked and audited move, money, totals, estimate versions
- intake.py: open, intake record
- estimate.py: job and part lines, additional work
- approvals.py: authorization and approval of additional work
- work.py: start, wait for parts, resume, complete
- qc.py: QC pass/fail, delays, wash, final check
- delivery.py: settlement, invoice, delivery, cancellation
- notices.py: messages to the customer from the RO page
- calls.py: the call tasks about a repair order (the link the outreach engine does not keep)

Every move locks the RO row (`select_for_update`), checks the table in `transitions.py` and the
move's guards, saves with `update_fields`, writes the audit row and defers side effects to
`transaction.on_commit`. A repeated identical request is a no-op; an illegal one is a 409 that
lists the allowed actions."""

from .approvals import (
    approval_answer_by_customer,
    approval_link_answer,
    approval_link_create,
    approval_link_get,
    ro_answer_approval,
    ro_authorize,
    ro_request_approval,
)
from .calls import task_link, task_schedule_for
from .common import (
    ADVISOR,
    APPROVAL_LINK_DAYS,
    CENT,
    MAX_PHOTO_BYTES,
    PROMISE_HORIZON,
    QC,
    REWORK_MARGIN,
    WORKSHOP,
    S,
    authorized_amount,
    lines_totals,
    money,
)
from .delivery import (
    invoice_number_for,
    next_service_defaults,
    ro_approve_total,
    ro_cancel,
    ro_deliver,
    ro_invoice,
    ro_notify_ready,
)
from .estimate import (
    PRICE_FIELDS,
    job_line_add,
    job_line_remove,
    job_line_update,
    job_propose_additional,
    part_line_add,
    part_line_remove,
    ro_update_estimate,
)
from .intake import (
    IMAGE_SIGNATURES,
    INTAKE_CHOICE_FIELDS,
    INTAKE_TEXT_FIELDS,
    intake_record,
    repair_order_open,
    repair_order_open_for_appointment,
    ro_comeback_decide,
)
from .notices import (
    RO_MESSAGE_KINDS,
    ro_message_send,
    ro_message_state_recorded,
)
from .qc import (
    ro_final_check,
    ro_qc_fail,
    ro_qc_pass,
    ro_qc_start,
    ro_record_delay,
    ro_wash_done,
)
from .work import (
    _rework_needs_delay_notice,
    ro_complete_work,
    ro_resume,
    ro_start,
    ro_wait_parts,
)

__all__ = [
    "ADVISOR",
    "APPROVAL_LINK_DAYS",
    "CENT",
    "IMAGE_SIGNATURES",
    "INTAKE_CHOICE_FIELDS",
    "INTAKE_TEXT_FIELDS",
    "MAX_PHOTO_BYTES",
    "PRICE_FIELDS",
    "PROMISE_HORIZON",
    "QC",
    "REWORK_MARGIN",
    "RO_MESSAGE_KINDS",
    "WORKSHOP",
    "S",
    "_rework_needs_delay_notice",
    "approval_answer_by_customer",
    "approval_link_answer",
    "approval_link_create",
    "approval_link_get",
    "authorized_amount",
    "intake_record",
    "invoice_number_for",
    "job_line_add",
    "job_line_remove",
    "job_line_update",
    "job_propose_additional",
    "lines_totals",
    "money",
    "next_service_defaults",
    "part_line_add",
    "part_line_remove",
    "repair_order_open",
    "repair_order_open_for_appointment",
    "ro_answer_approval",
    "ro_approve_total",
    "ro_authorize",
    "ro_cancel",
    "ro_comeback_decide",
    "ro_complete_work",
    "ro_deliver",
    "ro_final_check",
    "ro_invoice",
    "ro_message_send",
    "ro_message_state_recorded",
    "ro_notify_ready",
    "ro_qc_fail",
    "ro_qc_pass",
    "ro_qc_start",
    "ro_record_delay",
    "ro_request_approval",
    "ro_resume",
    "ro_start",
    "ro_update_estimate",
    "ro_wait_parts",
    "ro_wash_done",
    "task_link",
    "task_schedule_for",
]
