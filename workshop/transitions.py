"""The job's work status as data, and the pure rules the job clock checks.

The repair order's own status belongs to `workorders.transitions`; the workshop moves a job line's
`work_status` only, and asks the repair-order services to move the RO.
"""

from decimal import Decimal

from django.utils.translation import gettext as _

from workorders.models import AGREED_APPROVALS, JobLine, ROStatus

W = JobLine.WorkStatus
A = JobLine.Approval

JOB_TRANSITIONS: dict[str, set[str]] = {
    W.PENDING: {W.IN_PROGRESS, W.WAITING_PARTS},
    W.IN_PROGRESS: {W.WAITING_PARTS, W.DONE},
    W.WAITING_PARTS: {W.PENDING, W.IN_PROGRESS},
    # a failed QC sends signed-off work back to the technician
    W.DONE: {W.IN_PROGRESS},
}

# A job may be clocked on only while its repair order is in one of these states.
CLOCKABLE_RO_STATUSES = frozenset({ROStatus.AUTHORIZED, ROStatus.IN_PROGRESS, ROStatus.REWORK})
# Jobs may be (re)assigned while the car is in the workshop.
ASSIGNABLE_RO_STATUSES = frozenset(
    {
        ROStatus.AUTHORIZED,
        ROStatus.IN_PROGRESS,
        ROStatus.WAITING_APPROVAL,
        ROStatus.WAITING_PARTS,
        ROStatus.REWORK,
    }
)
# Only work the customer agreed to may be done.
WORKABLE_APPROVALS = AGREED_APPROVALS


def ro_refusal(ro_status: str) -> str | None:
    """Why no job of a repair order in `ro_status` may be clocked on (None: it may)."""
    if ro_status in CLOCKABLE_RO_STATUSES:
        return None
    reasons = {
        ROStatus.DRAFT: _("The repair order is not authorized by the customer yet."),
        ROStatus.WAITING_APPROVAL: _(
            "The repair order is waiting for the customer's approval of additional work."
        ),
        ROStatus.WAITING_PARTS: _("The repair order is waiting for parts."),
        ROStatus.WORK_DONE: _("The work is finished; the car is waiting for the quality check."),
        ROStatus.QC: _("The car is in the quality check."),
    }
    return reasons.get(ro_status, _("The car has left the workshop."))


def clock_on_refusal(
    *, ro_status: str, approval: str, work_status: str, reworking: bool = False
) -> str | None:
    """Why this job may not be clocked on now, in words for the technician (None: it may).

    `reworking` is true when the RO came back from a failed QC, so signed-off jobs may reopen.
    """
    reason = ro_refusal(ro_status)
    if reason:
        return reason
    if approval == A.PROPOSED:
        return _("This job is proposed additional work waiting for the customer's approval.")
    if approval == A.DECLINED:
        return _("The customer declined this job.")
    if work_status == W.WAITING_PARTS:
        return _("This job is waiting for parts.")
    if work_status == W.DONE and not (reworking or ro_status == ROStatus.REWORK):
        return _("This job is signed off as done.")
    return None


# A job signed off after less than this share of its standard (sold) hours on the clock is
# implausible (a clock forgotten, seconds of clocked time for hours of sold work): the technician
# confirms it at sign-off, the confirmation is recorded, and the dashboard shows such jobs.
IMPLAUSIBLE_SHARE = Decimal("0.1")


def implausible_clock_time(*, standard_hours, actual_hours) -> bool:
    standard = Decimal(standard_hours or 0)
    return standard > 0 and Decimal(actual_hours or 0) < standard * IMPLAUSIBLE_SHARE
