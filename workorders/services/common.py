"""What every step of the repair order shares: the row lock, the checked and audited status
move, money, totals and the frozen estimate versions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from dms.exceptions import ApplicationError, ConflictError, NotFoundError
from dms.models import Role
from dms.permissions import require_role
from dms.statemachine import lock, move

from ..models import (
    AGREED_APPROVALS,
    ApprovalChannel,
    EstimateVersion,
    JobLine,
    RepairOrder,
    ROStatus,
)
from ..transitions import TRANSITIONS, allowed_actions

S = ROStatus


CENT = Decimal("0.01")


APPROVAL_LINK_DAYS = 2


# A rework that leaves less than this before the promised time needs the customer told first.
REWORK_MARGIN = timedelta(hours=1)


MAX_PHOTO_BYTES = 10 * 1024 * 1024


ADVISOR = (Role.ADVISOR,)


WORKSHOP = (Role.TECHNICIAN, Role.DISPATCHER, Role.ADVISOR)


QC = (Role.QC_INSPECTOR,)


def money(value) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def _decimal(
    value, field: str, *, minimum: Decimal = Decimal("0"), maximum: Decimal = Decimal("999999")
) -> Decimal:
    try:
        d = Decimal(str(value))
    except (InvalidOperation, TypeError, ValueError):
        raise ApplicationError(_("Enter a number."), fields={field: _("Enter a number.")}) from None
    if not d.is_finite() or d < minimum:
        msg = _("Must be at least %(min)s.") % {"min": minimum}
        raise ApplicationError(msg, fields={field: msg})
    if d > maximum:
        msg = _("Must be at most %(max)s.") % {"max": maximum}
        raise ApplicationError(msg, fields={field: msg})
    return d


def _check_role(actor, site, roles: Iterable[str]) -> None:
    if actor is not None:
        require_role(actor, site, *roles)


def _lock_ro(repair_order_id, actor, roles: Iterable[str]) -> RepairOrder:
    try:
        ro = lock(RepairOrder, repair_order_id)
    except (RepairOrder.DoesNotExist, ValueError, TypeError):
        raise NotFoundError(_("No such repair order.")) from None
    _check_role(actor, ro.site_id, roles)
    return ro


def _conflict(ro: RepairOrder, action: str) -> ConflictError:
    actions = allowed_actions(ro.status)
    return ConflictError(
        _("Cannot %(action)s: the repair order is “%(state)s”. Allowed now: %(allowed)s.")
        % {
            "action": action,
            "state": ro.get_status_display(),
            "allowed": ", ".join(actions) or _("nothing"),
        },
        extra={
            "state": ro.status,
            "allowed": sorted(TRANSITIONS.get(ro.status, ())),
            "actions": actions,
        },
    )


PROMISE_HORIZON = timedelta(days=366)


def _check_promise_horizon(promised_at: datetime | None, field: str = "promised_at") -> None:
    """A promised time more than a year ahead is a typo (9999-12-31)."""
    if promised_at is not None and promised_at > timezone.now() + PROMISE_HORIZON:
        msg = _("The promised time must be within a year.")
        raise ApplicationError(msg, fields={field: msg})


def _already_recorded(ro: RepairOrder, action: str, differences: dict[str, tuple]) -> None:
    """A repeated move is a no-op only when it asks for what was recorded; a repeat with another
    body is a 409 that says what is on record (`differences`: field → (recorded, asked))."""
    differing = {k: v for k, v in differences.items() if v[0] != v[1]}
    if not differing:
        return
    recorded = "; ".join(f"{field}: {old}" for field, (old, _new) in differing.items())
    raise ConflictError(
        _("Already done (%(action)s) with other details; on record: %(recorded)s.")
        % {"action": action, "recorded": recorded},
        fields={
            field: _("On record: %(value)s.") % {"value": old}
            for field, (old, _n) in differing.items()
        },
        extra={
            "state": ro.status,
            "recorded": {field: old for field, (old, _new) in differing.items()},
        },
    )


def _transition(
    ro: RepairOrder,
    *,
    to: str,
    sources: Iterable[str],
    action: str,
    actor,
    note: str = "",
    data: dict | None = None,
    extra: Mapping[str, Any] | None = None,
) -> bool:
    """Move `ro` (locked) to `to` if it is in one of `sources`. False if already there."""
    if ro.status == to:
        return False
    if ro.status not in set(sources):
        raise _conflict(ro, action)
    _obj, changed = move(
        ro,
        to=to,
        table=TRANSITIONS,
        actor=actor,
        action=action,
        note=note,
        data=data,
        extra_fields={**(extra or {}), "updated_at": timezone.now()},
    )
    return changed


def lines_totals(lines: Iterable[JobLine], *, tax_rate: Decimal) -> dict[str, Decimal]:
    labour = parts = discount = Decimal("0")
    for line in lines:
        labour += line.labour_amount
        parts += line.parts_amount
        discount += line.discount
    net = labour + parts - discount
    tax = money(net * tax_rate)
    return {
        "labour_total": money(labour),
        "parts_total": money(parts),
        "discount_total": money(discount),
        "tax_total": tax,
        "grand_total": money(net) + tax,
    }


def _billable_lines(ro: RepairOrder) -> list[JobLine]:
    return [
        line for line in ro.lines.prefetch_related("parts") if line.approval in AGREED_APPROVALS
    ]


def _recalc(ro: RepairOrder) -> None:
    """Store the totals of the lines the customer agreed to (authorized or approved)."""
    totals = lines_totals(_billable_lines(ro), tax_rate=ro.site.tax_rate)
    for name, value in totals.items():
        setattr(ro, name, value)
    ro.save(update_fields=[*totals, "updated_at"])


def authorized_amount(ro: RepairOrder) -> Decimal | None:
    """The highest total the customer has agreed to: the not-to-exceed amount or a later
    approval on record (additional work, or consent to a higher total)."""
    amounts = [ro.not_to_exceed] if ro.not_to_exceed is not None else []
    # the approvals loaded with the RO where the page loaded them (repair_order_get), else read
    amounts += [a.approved_amount for a in ro.approvals.all() if a.approved_amount is not None]
    return max(amounts) if amounts else None


def _line_snapshot(line: JobLine) -> dict:
    return {
        "id": line.pk,
        "description": line.description,
        "operation_code": line.operation_code,
        "standard_hours": str(line.standard_hours),
        "labour_rate": str(line.labour_rate),
        "labour_amount": str(line.labour_amount),
        "discount": str(line.discount),
        "approval": line.approval,
        "is_additional": line.is_additional,
        "amount": str(line.amount),
        "parts": [
            {
                "name": p.name,
                "part_number": p.part_number,
                "quantity": str(p.quantity),
                "unit_price": str(p.unit_price),
                "amount": str(p.amount),
                "stock_status": p.stock_status,
            }
            for p in line.parts.all()
        ],
    }


def _freeze_estimate(ro: RepairOrder, actor) -> EstimateVersion:
    """Freeze the current estimate version (what the customer is shown and answers)."""
    existing = ro.estimate_versions.filter(version=ro.estimate_version).first()
    if existing:
        return existing
    lines = list(ro.lines.exclude(approval=JobLine.Approval.DECLINED).prefetch_related("parts"))
    totals = lines_totals(lines, tax_rate=ro.site.tax_rate)
    return EstimateVersion.objects.create(
        repair_order=ro,
        version=ro.estimate_version,
        lines=[_line_snapshot(line) for line in lines],
        not_to_exceed=ro.not_to_exceed,
        promised_at=ro.promised_at,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
        **totals,
    )


def _estimate_changed(ro: RepairOrder) -> None:
    """A line or price changed: if the current version was shown to the customer, start a new
    one (answers name the version they agreed to)."""
    if ro.estimate_versions.filter(version=ro.estimate_version).exists():
        ro.estimate_version += 1
        ro.save(update_fields=["estimate_version", "updated_at"])


def _check_channel(channel: str) -> None:
    if channel not in ApprovalChannel.values:
        msg = _("Choose how the customer answered.")
        raise ApplicationError(msg, fields={"channel": msg})
