"""Step 5, quality check: the QC inspector's pass or fail, delays, the wash, the advisor's final
check."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from dms import audit
from dms.exceptions import ApplicationError, ConflictError

from ..models import (
    FINAL_CHECK_ITEMS,
    QC_ITEMS,
    JobLine,
    RepairOrder,
)
from .common import (
    ADVISOR,
    QC,
    WORKSHOP,
    S,
    _check_channel,
    _check_promise_horizon,
    _conflict,
    _lock_ro,
    _transition,
)


def ro_qc_start(*, repair_order_id, actor) -> RepairOrder:
    """The QC inspector takes the car for the road test (work_done → qc)."""
    with transaction.atomic():
        ro = _lock_ro(repair_order_id, actor, QC)
        _transition(ro, to=S.QC, sources={S.WORK_DONE}, action="qc-start", actor=actor)
        return ro


def _clean_checklist(checklist, items: Mapping[str, Any], field: str) -> dict[str, bool]:
    if not isinstance(checklist, Mapping):
        msg = _("Tick the checklist.")
        raise ApplicationError(msg, fields={field: msg})
    return {key: bool(checklist.get(key)) for key in items}


def ro_qc_pass(*, repair_order_id, actor, checklist: dict, note: str = "") -> RepairOrder:
    """Road test and final inspection passed: every item must be ticked. → washing."""
    cleaned = _clean_checklist(checklist, QC_ITEMS, "checklist")
    missing = [str(QC_ITEMS[k]) for k, ok in cleaned.items() if not ok]
    if missing:
        msg = _("Not ticked: %(items)s. Fail the QC instead if something is wrong.") % {
            "items": ", ".join(missing)
        }
        raise ApplicationError(msg, fields={"checklist": msg})
    with transaction.atomic():
        ro = _lock_ro(repair_order_id, actor, QC)
        if ro.status == S.WASHING:
            return ro
        if ro.status not in (S.WORK_DONE, S.QC):
            raise _conflict(ro, "qc-pass")
        if ro.status == S.WORK_DONE:
            _transition(ro, to=S.QC, sources={S.WORK_DONE}, action="qc-start", actor=actor)
        _transition(
            ro,
            to=S.WASHING,
            sources={S.QC},
            action="qc-pass",
            actor=actor,
            note=note,
            data={"checklist": cleaned},
            extra={"qc_passed_at": timezone.now(), "qc_checklist": cleaned},
        )
        return ro


def ro_qc_fail(
    *,
    repair_order_id,
    actor,
    reason: str,
    checklist: dict | None = None,
) -> RepairOrder:
    """QC failed: back to the workshop as rework, with the reason; each failure is counted."""
    reason = (reason or "").strip()
    if not reason:
        msg = _("Say what failed.")
        raise ApplicationError(msg, fields={"reason": msg})
    cleaned = _clean_checklist(checklist or {}, QC_ITEMS, "checklist") if checklist else {}
    with transaction.atomic():
        ro = _lock_ro(repair_order_id, actor, QC)
        if ro.status == S.REWORK:
            return ro
        if ro.status not in (S.WORK_DONE, S.QC):
            raise _conflict(ro, "qc-fail")
        if ro.status == S.WORK_DONE:
            _transition(ro, to=S.QC, sources={S.WORK_DONE}, action="qc-start", actor=actor)
        _transition(
            ro,
            to=S.REWORK,
            sources={S.QC},
            action="qc-fail",
            actor=actor,
            note=reason,
            data={"checklist": cleaned, "count": ro.qc_fail_count + 1},
            extra={
                "qc_fail_count": ro.qc_fail_count + 1,
                "qc_fail_reason": reason[:300],
                "qc_failed_at": timezone.now(),
                "qc_checklist": cleaned,
                "delay_notified_at": None,
            },
        )
        return ro


def ro_record_delay(
    *, repair_order_id, actor, promised_at: datetime, channel: str = "phone", note: str = ""
) -> RepairOrder:
    """The customer was told the car will be late, and the new promised time."""
    _check_channel(channel)
    if promised_at is None or promised_at <= timezone.now():
        msg = _("The new promised time must be in the future.")
        raise ApplicationError(msg, fields={"promised_at": msg})
    _check_promise_horizon(promised_at)
    with transaction.atomic():
        ro = _lock_ro(repair_order_id, actor, ADVISOR)
        if ro.status in (S.READY, S.INVOICED, S.DELIVERED, S.CANCELLED):
            raise _conflict(ro, _("record a delay"))
        old = ro.promised_at
        ro.promised_at = promised_at
        ro.delay_notified_at = timezone.now()
        ro.save(update_fields=["promised_at", "delay_notified_at", "updated_at"])
        audit.record(
            subject=ro,
            action="delay_notified",
            actor=actor,
            note=note,
            data={
                "channel": channel,
                "from": old.isoformat() if old else None,
                "to": promised_at.isoformat(),
            },
        )
        return ro


def ro_wash_done(*, repair_order_id, actor) -> RepairOrder:
    with transaction.atomic():
        ro = _lock_ro(repair_order_id, actor, WORKSHOP)
        if ro.status != S.WASHING:
            raise _conflict(ro, "wash-done")
        if ro.washed_at is None:
            ro.washed_at = timezone.now()
            ro.save(update_fields=["washed_at", "updated_at"])
            audit.record(subject=ro, action="wash-done", actor=actor)
        return ro


def ro_final_check(*, repair_order_id, actor, checklist: dict, note: str = "") -> RepairOrder:
    """The advisor's final check after the wash (every line done, car clean) → ready."""
    cleaned = _clean_checklist(checklist, FINAL_CHECK_ITEMS, "checklist")
    missing = [str(FINAL_CHECK_ITEMS[k]) for k, ok in cleaned.items() if not ok]
    if missing:
        msg = _("Not ticked: %(items)s.") % {"items": ", ".join(missing)}
        raise ApplicationError(msg, fields={"checklist": msg})
    with transaction.atomic():
        ro = _lock_ro(repair_order_id, actor, ADVISOR)
        if ro.status == S.READY:
            return ro
        if ro.status != S.WASHING:
            raise _conflict(ro, "final-check")
        if ro.washed_at is None:
            msg = _("The car has not been washed yet.")
            raise ConflictError(msg, fields={"wash": msg})
        undone = [
            line.description
            for line in ro.lines.all()
            if line.is_workable and line.work_status != JobLine.WorkStatus.DONE
        ]
        if undone:
            msg = _("Not done yet: %(lines)s.") % {"lines": ", ".join(undone)}
            raise ConflictError(msg, fields={"lines": msg})
        _transition(
            ro,
            to=S.READY,
            sources={S.WASHING},
            action="final-check",
            actor=actor,
            note=note,
            extra={"final_check": cleaned, "ready_at": timezone.now()},
        )
        return ro
