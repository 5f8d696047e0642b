"""Step 4, work: start, waiting for parts, resume, work complete."""

from __future__ import annotations

from datetime import date, datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from dms.exceptions import ApplicationError, ConflictError
from dms.models import Role

from ..models import (
    JobLine,
    RepairOrder,
)
from .common import REWORK_MARGIN, WORKSHOP, S, _conflict, _lock_ro, _transition


def _rework_needs_delay_notice(ro: RepairOrder, now: datetime) -> bool:
    if ro.promised_at is None or ro.promised_at - now >= REWORK_MARGIN:
        return False
    told = ro.delay_notified_at
    return not (told and (ro.qc_failed_at is None or told >= ro.qc_failed_at))


def ro_start(*, repair_order_id, actor, note: str = "") -> RepairOrder:
    """The first job is clocked on (authorized → in_progress) or rework begins (rework →
    in_progress). After a QC failure that threatens the promised time, the customer must have
    been told and a new promised time set first."""
    with transaction.atomic():
        ro = _lock_ro(repair_order_id, actor, WORKSHOP)
        if ro.status == S.REWORK and _rework_needs_delay_notice(ro, timezone.now()):
            msg = _(
                "The promised time can no longer be met: tell the customer and set a new "
                "promised time before the rework starts."
            )
            raise ConflictError(msg, fields={"promised_at": msg}, extra={"state": ro.status})
        _transition(
            ro,
            to=S.IN_PROGRESS,
            sources={S.AUTHORIZED, S.REWORK},
            action="start",
            actor=actor,
            note=note,
        )
        return ro


def ro_wait_parts(
    *, repair_order_id, actor, part: str, expected_date: date | None = None, note: str = ""
) -> RepairOrder:
    """Work stops for a part: visible with the part and the expected date."""
    part = (part or "").strip()
    if not part:
        msg = _("Name the part the car is waiting for.")
        raise ApplicationError(msg, fields={"part": msg})
    with transaction.atomic():
        ro = _lock_ro(repair_order_id, actor, (*WORKSHOP, Role.PARTS_CLERK))
        _transition(
            ro,
            to=S.WAITING_PARTS,
            sources={S.AUTHORIZED, S.IN_PROGRESS},
            action="wait-parts",
            actor=actor,
            note=note or part,
            data={
                "part": part,
                "expected_date": expected_date.isoformat() if expected_date else None,
            },
            extra={
                "paused_from": ro.status,
                "waiting_part": part[:120],
                "parts_expected_date": expected_date,
            },
        )
        return ro


def ro_resume(*, repair_order_id, actor, note: str = "") -> RepairOrder:
    """Back to work after waiting for parts or approval (approved lines only may be worked)."""
    with transaction.atomic():
        ro = _lock_ro(repair_order_id, actor, (*WORKSHOP, Role.PARTS_CLERK))
        if ro.status in (S.IN_PROGRESS, S.AUTHORIZED) and not ro.paused_from:
            return ro
        back = ro.paused_from or S.IN_PROGRESS
        _transition(
            ro,
            to=back,
            sources={S.WAITING_PARTS, S.WAITING_APPROVAL},
            action="resume",
            actor=actor,
            note=note,
            extra={"paused_from": "", "waiting_part": "", "parts_expected_date": None},
        )
        return ro


def ro_complete_work(*, repair_order_id, actor, note: str = "") -> RepairOrder:
    """All agreed lines are done and signed: hand over to QC."""
    with transaction.atomic():
        ro = _lock_ro(repair_order_id, actor, WORKSHOP)
        if ro.status == S.WORK_DONE:
            return ro
        if ro.status != S.IN_PROGRESS:
            raise _conflict(ro, "complete-work")
        lines = list(ro.lines.all())
        pending = [line for line in lines if line.approval == JobLine.Approval.PROPOSED]
        if pending:
            msg = _("The customer has not answered on: %(lines)s.") % {
                "lines": ", ".join(line.description for line in pending)
            }
            raise ConflictError(msg, fields={"lines": msg})
        open_lines = [
            line
            for line in lines
            if line.is_workable and line.work_status != JobLine.WorkStatus.DONE
        ]
        if open_lines:
            msg = _("Not done yet: %(lines)s.") % {
                "lines": ", ".join(line.description for line in open_lines)
            }
            raise ConflictError(msg, fields={"lines": msg})
        _transition(
            ro,
            to=S.WORK_DONE,
            sources={S.IN_PROGRESS},
            action="complete-work",
            actor=actor,
            note=note,
            extra={"work_done_at": timezone.now()},
        )
        return ro
