"""Step 2, the estimate: job and part lines, additional work the workshop proposes (which moves
the RO to `waiting_approval` itself: the finding stops the clock for that line at once), the
estimate total."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from dms import audit
from dms.exceptions import ApplicationError, ConflictError, NotFoundError

from ..models import (
    JobLine,
    PartLine,
    RepairOrder,
)
from ..transitions import EDITABLE
from .common import (
    ADVISOR,
    WORKSHOP,
    S,
    _check_promise_horizon,
    _conflict,
    _decimal,
    _estimate_changed,
    _lock_ro,
    _recalc,
    _transition,
    money,
)
from .intake import _save_photo


def _clean_parts(parts: Iterable[Mapping[str, Any]]) -> list[dict]:
    cleaned = []
    for i, raw in enumerate(parts):
        name = str(raw.get("name", "")).strip()
        if not name:
            raise ApplicationError(
                _("Name the part."), fields={f"parts[{i}].name": _("Name the part.")}
            )
        qty = _decimal(raw.get("quantity", 1), f"parts[{i}].quantity", minimum=Decimal("0.01"))
        price = _decimal(raw.get("unit_price", 0), f"parts[{i}].unit_price")
        stock = raw.get("stock_status") or PartLine.Stock.IN_STOCK
        if stock not in PartLine.Stock.values:
            raise ApplicationError(
                _("Unknown stock status."),
                fields={f"parts[{i}].stock_status": _("Unknown stock status.")},
            )
        cleaned.append(
            {
                "name": name[:120],
                "part_number": str(raw.get("part_number", "")).strip()[:40],
                "quantity": qty,
                "unit_price": money(price),
                "stock_status": stock,
                "expected_date": raw.get("expected_date") or None,
            }
        )
    return cleaned


def _job_create(
    ro: RepairOrder,
    *,
    description: str,
    standard_hours,
    operation_code: str = "",
    discount=0,
    parts: Iterable[Mapping[str, Any]] = (),
    approval: str,
    is_additional: bool,
) -> JobLine:
    description = (description or "").strip()
    if not description:
        raise ApplicationError(
            _("Describe the operation."), fields={"description": _("Describe the operation.")}
        )
    hours = _decimal(standard_hours, "standard_hours")
    disc = money(_decimal(discount or 0, "discount"))
    parts = _clean_parts(parts)
    labour = money(hours * ro.site.labour_rate)
    gross = labour + sum((money(p["quantity"] * p["unit_price"]) for p in parts), Decimal("0"))
    if disc > gross:
        msg = _("The discount cannot be more than the line.")
        raise ApplicationError(msg, fields={"discount": msg})
    position = (ro.lines.order_by("-position").values_list("position", flat=True).first() or 0) + 1
    job = JobLine.objects.create(
        repair_order=ro,
        position=position,
        operation_code=(operation_code or "").strip()[:30],
        description=description[:200],
        standard_hours=hours,
        labour_rate=ro.site.labour_rate,
        labour_amount=labour,
        discount=disc,
        approval=approval,
        is_additional=is_additional,
    )
    for p in parts:
        PartLine.objects.create(job=job, **p)
    return job


def job_line_add(
    *,
    repair_order_id,
    actor,
    description: str,
    standard_hours,
    operation_code: str = "",
    discount=0,
    parts: Iterable[Mapping[str, Any]] = (),
) -> JobLine:
    """Add a line to the estimate. Before authorization it joins the estimate; afterwards it is
    proposed additional work that needs the customer's answer."""
    with transaction.atomic():
        ro = _lock_ro(repair_order_id, actor, ADVISOR)
        if ro.status not in EDITABLE:
            raise _conflict(ro, _("add a line"))
        draft = ro.status == S.DRAFT
        job = _job_create(
            ro,
            description=description,
            standard_hours=standard_hours,
            operation_code=operation_code,
            discount=discount,
            parts=parts,
            approval=JobLine.Approval.AUTHORIZED if draft else JobLine.Approval.PROPOSED,
            is_additional=not draft,
        )
        _estimate_changed(ro)
        _recalc(ro)
        audit.record(
            subject=ro,
            action="line_added",
            actor=actor,
            data={"job": job.pk, "description": job.description, "amount": str(job.amount)},
        )
        return job


def job_propose_additional(
    *,
    repair_order_id,
    actor,
    description: str,
    standard_hours,
    parts: Iterable[Mapping[str, Any]] = (),
    photos: Iterable[Any] = (),
    operation_code: str = "",
) -> JobLine:
    """A finding during the repair becomes a proposed line (with price and photos), and the RO
    goes to `waiting_approval` right away. Only after the customer's answer can it be worked."""
    with transaction.atomic():
        ro = _lock_ro(repair_order_id, actor, WORKSHOP)
        sources = {S.AUTHORIZED, S.IN_PROGRESS, S.WAITING_PARTS, S.WAITING_APPROVAL}
        if ro.status not in sources:
            raise _conflict(ro, _("propose additional work"))
        job = _job_create(
            ro,
            description=description,
            standard_hours=standard_hours,
            operation_code=operation_code,
            parts=parts,
            approval=JobLine.Approval.PROPOSED,
            is_additional=True,
        )
        for upload in photos:
            _save_photo(ro, upload, actor=actor, field="photos", job=job)
        _estimate_changed(ro)
        audit.record(
            subject=ro,
            action="additional_proposed",
            actor=actor,
            data={"job": job.pk, "description": job.description, "amount": str(job.amount)},
        )
        if ro.status != S.WAITING_APPROVAL:
            paused_from = S.AUTHORIZED if ro.status == S.AUTHORIZED else S.IN_PROGRESS
            _transition(
                ro,
                to=S.WAITING_APPROVAL,
                sources=sources,
                action="request-approval",
                actor=actor,
                note=job.description,
                extra={"paused_from": paused_from},
            )
        return job


PRICE_FIELDS = ("standard_hours", "discount")


def job_line_update(
    *,
    job_id,
    actor,
    description: str | None = None,
    standard_hours=None,
    discount=None,
    operation_code: str | None = None,
) -> JobLine:
    """Change a line. After authorization a changed price puts the line back to `proposed`:
    the customer must answer again."""
    with transaction.atomic():
        ro_id = JobLine.objects.filter(pk=job_id).values_list("repair_order_id", flat=True).first()
        if ro_id is None:
            raise NotFoundError(_("No such line."))
        ro = _lock_ro(ro_id, actor, ADVISOR)
        job = ro.lines.select_for_update().get(pk=job_id)
        if ro.status not in EDITABLE:
            raise _conflict(ro, _("change a line"))
        if job.work_status == JobLine.WorkStatus.DONE:
            raise ConflictError(_("This line is done; it can no longer be changed."))
        before = job.amount
        if description is not None:
            if not description.strip():
                raise ApplicationError(
                    _("Describe the operation."),
                    fields={"description": _("Describe the operation.")},
                )
            job.description = description.strip()[:200]
        if operation_code is not None:
            job.operation_code = operation_code.strip()[:30]
        if standard_hours is not None:
            job.standard_hours = _decimal(standard_hours, "standard_hours")
            job.labour_amount = money(job.standard_hours * job.labour_rate)
        if discount is not None:
            job.discount = money(_decimal(discount, "discount"))
        if job.discount > job.labour_amount + job.parts_amount:
            msg = _("The discount cannot be more than the line.")
            raise ApplicationError(msg, fields={"discount": msg})
        job.save()
        _after_line_change(ro, job, actor=actor, before=before)
        return job


def _after_line_change(ro: RepairOrder, job: JobLine, *, actor, before: Decimal) -> None:
    after = job.amount
    if after != before:
        _estimate_changed(ro)
        if ro.status != S.DRAFT and job.approval != JobLine.Approval.DECLINED:
            job.approval = JobLine.Approval.PROPOSED
            job.save(update_fields=["approval"])
    _recalc(ro)
    audit.record(
        subject=ro,
        action="line_changed",
        actor=actor,
        data={"job": job.pk, "before": str(before), "after": str(after)},
    )


def part_line_add(*, job_id, actor, **part: Any) -> PartLine:
    with transaction.atomic():
        ro_id = JobLine.objects.filter(pk=job_id).values_list("repair_order_id", flat=True).first()
        if ro_id is None:
            raise NotFoundError(_("No such line."))
        ro = _lock_ro(ro_id, actor, ADVISOR)
        if ro.status not in EDITABLE:
            raise _conflict(ro, _("change a line"))
        job = ro.lines.get(pk=job_id)
        before = job.amount
        (cleaned,) = _clean_parts([part])
        created = PartLine.objects.create(job=job, **cleaned)
        job = ro.lines.prefetch_related("parts").get(pk=job_id)
        _after_line_change(ro, job, actor=actor, before=before)
        return created


def part_line_remove(*, part_id, actor) -> None:
    with transaction.atomic():
        part = PartLine.objects.select_related("job").filter(pk=part_id).first()
        if part is None:
            raise NotFoundError(_("No such part."))
        ro = _lock_ro(part.job.repair_order_id, actor, ADVISOR)
        if ro.status not in EDITABLE:
            raise _conflict(ro, _("change a line"))
        job = ro.lines.get(pk=part.job_id)
        before = job.amount
        part.delete()
        job = ro.lines.prefetch_related("parts").get(pk=job.pk)
        _after_line_change(ro, job, actor=actor, before=before)


def job_line_remove(*, job_id, actor) -> None:
    """Remove a line from a draft estimate, or withdraw a proposed line nobody has worked on."""
    with transaction.atomic():
        ro_id = JobLine.objects.filter(pk=job_id).values_list("repair_order_id", flat=True).first()
        if ro_id is None:
            raise NotFoundError(_("No such line."))
        ro = _lock_ro(ro_id, actor, ADVISOR)
        job = ro.lines.get(pk=job_id)
        if not (
            ro.status == S.DRAFT
            or (
                ro.status in EDITABLE
                and job.approval == JobLine.Approval.PROPOSED
                and job.approved_version is None
                and job.work_status == JobLine.WorkStatus.PENDING
            )
        ):
            raise ConflictError(
                _("Only lines of a draft, or proposed lines not yet agreed, can be removed.")
            )
        description = job.description
        job.delete()
        _estimate_changed(ro)
        _recalc(ro)
        audit.record(
            subject=ro, action="line_removed", actor=actor, data={"description": description}
        )


def ro_update_estimate(
    *, repair_order_id, actor, not_to_exceed=None, promised_at: datetime | None = None
) -> RepairOrder:
    """Set the not-to-exceed amount and the promised delivery time on the estimate."""
    with transaction.atomic():
        ro = _lock_ro(repair_order_id, actor, ADVISOR)
        if ro.status not in EDITABLE:
            raise _conflict(ro, _("change the estimate"))
        update = ["updated_at"]
        if not_to_exceed is not None:
            nte = money(_decimal(not_to_exceed, "not_to_exceed"))
            if ro.status != S.DRAFT and ro.not_to_exceed is not None and nte != ro.not_to_exceed:
                raise ConflictError(
                    _(
                        "The customer authorized the not-to-exceed amount; record their "
                        "consent to a higher total instead."
                    ),
                    fields={"not_to_exceed": _("Already authorized.")},
                )
            ro.not_to_exceed = nte
            update.append("not_to_exceed")
        if promised_at is not None:
            if promised_at <= timezone.now():
                msg = _("The promised time must be in the future.")
                raise ApplicationError(msg, fields={"promised_at": msg})
            _check_promise_horizon(promised_at)
            ro.promised_at = promised_at
            update.append("promised_at")
            if ro.status == S.DRAFT:
                ro.first_promised_at = promised_at
                update.append("first_promised_at")
        ro.save(update_fields=update)
        _estimate_changed(ro)
        audit.record(
            subject=ro,
            action="estimate_changed",
            actor=actor,
            data={
                "not_to_exceed": str(ro.not_to_exceed) if ro.not_to_exceed is not None else None,
                "promised_at": ro.promised_at.isoformat() if ro.promised_at else None,
            },
        )
        return ro
