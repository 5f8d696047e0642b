"""Step 3, approvals: the customer's signature on the estimate, requests for approval of
additional work and the answers (in person, by phone, through the private link)."""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from dms import audit
from dms.exceptions import ApplicationError, ConflictError, NotFoundError
from dms.statemachine import lock

from .. import signals
from ..models import (
    Approval,
    ApprovalChannel,
    ApprovalLine,
    ApprovalLink,
    Intake,
    JobLine,
    RepairOrder,
)
from ..transitions import EDITABLE, allowed_actions
from .common import (
    ADVISOR,
    APPROVAL_LINK_DAYS,
    MAX_PHOTO_BYTES,
    PROMISE_HORIZON,
    S,
    _check_channel,
    _conflict,
    _decimal,
    _freeze_estimate,
    _lock_ro,
    _recalc,
    _transition,
    lines_totals,
    money,
)


def _decode_signature(signature) -> bytes:
    if isinstance(signature, bytes):
        data = signature
    else:
        text = str(signature)
        if text.startswith("data:"):
            text = text.split(",", 1)[-1]
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            data = b""
    if not data.startswith(b"\x89PNG\r\n\x1a\n") or len(data) > MAX_PHOTO_BYTES:
        msg = _("The signature must be a PNG image drawn on the pad.")
        raise ApplicationError(msg, fields={"signature": msg})
    return data


def ro_authorize(
    *,
    repair_order_id,
    actor,
    channel: str,
    customer_name: str = "",
    signature=None,
    not_to_exceed=None,
    promised_at: datetime | None = None,
    note: str = "",
) -> RepairOrder:
    """The customer authorizes the RO: a signature drawn on screen (PNG) or a recorded
    verbal/remote approval (who, channel, time). Nothing is dispatched before this."""
    _check_channel(channel)
    with transaction.atomic():
        ro = _lock_ro(repair_order_id, actor, ADVISOR)
        if ro.status == S.AUTHORIZED:
            return ro
        if ro.status != S.DRAFT:
            raise _conflict(ro, "authorize")
        errors: dict[str, list[str]] = {}
        lines = list(ro.lines.prefetch_related("parts"))
        intake = Intake.objects.filter(repair_order=ro).first()
        if not lines:
            errors["lines"] = [_("Add at least one job line to the estimate.")]
        if intake is None or intake.recorded_at is None:
            errors["intake"] = [_("Record the walk-around (intake) first.")]
        else:
            if not intake.covers_fitted:
                errors["intake"] = [_("Fit the seat and steering-wheel covers first.")]
            if intake.vin_mismatch and not intake.vin_mismatch_acknowledged:
                errors["intake"] = [_("Acknowledge the VIN mismatch first.")]
            if ro.is_first_service and not intake.underbody_checked:
                errors["intake"] = [_("A first service needs the underbody check first.")]
        promised = promised_at or ro.promised_at
        if promised is None:
            errors["promised_at"] = [_("Set the promised delivery time.")]
        elif promised_at is not None and promised_at <= timezone.now():
            errors["promised_at"] = [_("The promised time must be in the future.")]
        elif promised_at is not None and promised_at > timezone.now() + PROMISE_HORIZON:
            errors["promised_at"] = [_("The promised time must be within a year.")]
        totals = lines_totals(lines, tax_rate=ro.site.tax_rate)
        nte = ro.not_to_exceed
        if not_to_exceed is not None:
            nte = money(_decimal(not_to_exceed, "not_to_exceed"))
        if nte is None:
            nte = totals["grand_total"]
        if nte < totals["grand_total"]:
            errors["not_to_exceed"] = [
                _("The not-to-exceed amount is below the estimate total (%(total)s).")
                % {"total": totals["grand_total"]}
            ]
        customer_name = (customer_name or "").strip() or ro.customer.name
        png = None
        if channel == ApprovalChannel.SIGNATURE:
            if not signature:
                errors["signature"] = [_("Ask the customer to sign on the screen.")]
            else:
                png = _decode_signature(signature)
        elif channel == ApprovalChannel.LINK:
            errors["channel"] = [_("The private link is for additional work only.")]
        if errors:
            raise ApplicationError(next(iter(errors.values()))[0], fields=errors)

        ro.not_to_exceed = nte
        ro.promised_at = promised
        version = _freeze_estimate(ro, actor)
        now = timezone.now()
        approval = Approval(
            repair_order=ro,
            kind=Approval.Kind.AUTHORIZATION,
            estimate_version=version.version,
            customer_name=customer_name[:120],
            channel=channel,
            answered_at=now,
            approved_amount=nte,
            recorded_by=actor if getattr(actor, "is_authenticated", False) else None,
            note=(note or "")[:300],
        )
        if png is not None:
            approval.signature.save("signature.png", ContentFile(png), False)
        approval.save()
        for line in lines:
            line.approval = JobLine.Approval.AUTHORIZED
            line.approved_version = version.version
            line.approved_amount = line.amount
            line.save(update_fields=["approval", "approved_version", "approved_amount"])
            ApprovalLine.objects.create(
                approval=approval,
                job=line,
                decision=ApprovalLine.Decision.APPROVED,
                amount=line.amount,
            )
        _recalc(ro)
        _transition(
            ro,
            to=S.AUTHORIZED,
            sources={S.DRAFT},
            action="authorize",
            actor=actor,
            note=note,
            data={"channel": channel, "customer": customer_name, "version": version.version},
            extra={
                "authorized_at": now,
                "not_to_exceed": nte,
                "promised_at": promised,
                "first_promised_at": ro.first_promised_at or promised,
            },
        )
        return ro


def approval_link_create(*, repair_order_id, actor, days: int = APPROVAL_LINK_DAYS) -> ApprovalLink:
    """A private link for the current estimate version; an unexpired unanswered one is reused."""
    with transaction.atomic():
        ro = _lock_ro(repair_order_id, actor, ADVISOR)
        return _link_for(ro, actor, days=days)


def _link_for(ro: RepairOrder, actor, *, days: int = APPROVAL_LINK_DAYS) -> ApprovalLink:
    now = timezone.now()
    _freeze_estimate(ro, actor)
    link = ro.approval_links.filter(
        estimate_version=ro.estimate_version, answered_at=None, expires_at__gt=now
    ).first()
    if link:
        return link
    link = ApprovalLink.objects.create(
        repair_order=ro,
        token=secrets.token_urlsafe(32),
        estimate_version=ro.estimate_version,
        expires_at=now + timedelta(days=days),
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    audit.record(
        subject=ro,
        action="approval_link_created",
        actor=actor,
        data={"version": ro.estimate_version, "expires_at": link.expires_at.isoformat()},
    )
    return link


def ro_request_approval(*, repair_order_id, actor, note: str = "") -> RepairOrder:
    """Ask the customer about the proposed lines: freezes the estimate version and makes the
    private link (`ro.approval_links.first()`)."""
    with transaction.atomic():
        ro = _lock_ro(repair_order_id, actor, ADVISOR)
        sources = {S.AUTHORIZED, S.IN_PROGRESS, S.WAITING_PARTS}
        if ro.status not in sources | {S.WAITING_APPROVAL}:
            raise _conflict(ro, "request-approval")
        if not ro.lines.filter(approval=JobLine.Approval.PROPOSED).exists():
            msg = _("There is no proposed line to ask the customer about.")
            raise ConflictError(msg, fields={"lines": msg})
        paused_from = ro.paused_from or (
            S.AUTHORIZED if ro.status == S.AUTHORIZED else S.IN_PROGRESS
        )
        _transition(
            ro,
            to=S.WAITING_APPROVAL,
            sources=sources,
            action="request-approval",
            actor=actor,
            note=note,
            extra={"paused_from": paused_from},
        )
        _link_for(ro, actor)
        signals.approval_requested.send(sender=RepairOrder, repair_order=ro)
        return ro


def _answer(
    ro: RepairOrder,
    *,
    actor,
    customer_name: str,
    channel: str,
    answers: Iterable[Mapping[str, Any]],
    estimate_version: int | None,
    note: str = "",
    link: ApprovalLink | None = None,
) -> Approval:
    _check_channel(channel)
    if ro.status not in EDITABLE:
        raise _conflict(ro, "answer-approval")
    if estimate_version is not None and int(estimate_version) != ro.estimate_version:
        raise ConflictError(
            _(
                "The estimate changed after version %(old)s (now version %(new)s): the "
                "customer must answer the new version."
            )
            % {"old": estimate_version, "new": ro.estimate_version},
            fields={"estimate_version": _("Out of date.")},
            extra={"estimate_version": ro.estimate_version},
        )
    proposed = {
        line.pk: line
        for line in ro.lines.filter(approval=JobLine.Approval.PROPOSED).prefetch_related("parts")
    }
    if not proposed:
        raise ConflictError(
            _("Nothing on this repair order is waiting for the customer's answer."),
            extra={"state": ro.status, "actions": allowed_actions(ro.status)},
        )
    answers = list(answers)
    if not answers:
        msg = _("Answer at least one line.")
        raise ApplicationError(msg, fields={"answers": msg})
    errors: dict[str, list[str]] = {}
    decided: list[tuple[JobLine, str, str]] = []
    seen = set()
    for i, answer in enumerate(answers):
        try:
            job_id = int(answer.get("job_id") or answer.get("job"))
        except (TypeError, ValueError):
            errors[f"answers[{i}].job_id"] = [_("Choose a line.")]
            continue
        decision = answer.get("decision")
        if job_id not in proposed or job_id in seen:
            errors[f"answers[{i}].job_id"] = [_("This line is not waiting for an answer.")]
            continue
        if decision not in ApprovalLine.Decision.values:
            errors[f"answers[{i}].decision"] = [_("Approve or decline.")]
            continue
        seen.add(job_id)
        decided.append((proposed[job_id], decision, str(answer.get("reason") or "").strip()))
    if errors:
        raise ApplicationError(next(iter(errors.values()))[0], fields=errors)
    customer_name = (customer_name or "").strip() or ro.customer.name
    version = _freeze_estimate(ro, actor)
    now = timezone.now()
    approval = Approval.objects.create(
        repair_order=ro,
        kind=Approval.Kind.ADDITIONAL,
        estimate_version=version.version,
        customer_name=customer_name[:120],
        channel=channel,
        answered_at=now,
        recorded_by=actor if getattr(actor, "is_authenticated", False) else None,
        note=(note or "")[:300],
    )
    for job, decision, reason in decided:
        ApprovalLine.objects.create(
            approval=approval, job=job, decision=decision, amount=job.amount, reason=reason[:200]
        )
        if decision == ApprovalLine.Decision.APPROVED:
            job.approval = JobLine.Approval.APPROVED
            job.approved_version = version.version
            job.approved_amount = job.amount
            job.declined_reason = ""
        else:
            job.approval = JobLine.Approval.DECLINED
            job.declined_reason = reason[:200] or _("Declined by the customer")
        job.save(
            update_fields=["approval", "approved_version", "approved_amount", "declined_reason"]
        )
    _recalc(ro)
    # the customer agreed to the total of everything approved so far
    approval.approved_amount = max(ro.grand_total, ro.not_to_exceed or Decimal("0"))
    approval.save(update_fields=["approved_amount"])
    if link is not None:
        link.answered_at = now
        link.approval = approval
        link.save(update_fields=["answered_at", "approval"])
    audit.record(
        subject=ro,
        action="approval_answered",
        actor=actor,
        data={
            "channel": channel,
            "customer": customer_name,
            "version": version.version,
            "answers": {str(j.pk): d for j, d, _r in decided},
        },
    )
    if (
        ro.status == S.WAITING_APPROVAL
        and not ro.lines.filter(approval=JobLine.Approval.PROPOSED).exists()
    ):
        back = ro.paused_from or S.IN_PROGRESS
        _transition(
            ro,
            to=back,
            sources={S.WAITING_APPROVAL},
            action="answer-approval",
            actor=actor,
            note=_("Answered by %(name)s") % {"name": customer_name},
            extra={"paused_from": ""},
        )
    return approval


def ro_answer_approval(
    *,
    repair_order_id,
    actor,
    channel: str,
    answers: Iterable[Mapping[str, Any]],
    customer_name: str = "",
    estimate_version: int | None = None,
    note: str = "",
) -> Approval:
    """Record the customer's answer per proposed line, given by phone (etc.) to the advisor.
    When no proposed line is left, the RO goes back to where it paused."""
    with transaction.atomic():
        ro = _lock_ro(repair_order_id, actor, ADVISOR)
        return _answer(
            ro,
            actor=actor,
            customer_name=customer_name,
            channel=channel,
            answers=answers,
            estimate_version=estimate_version,
            note=note,
        )


def approval_link_get(*, token: str) -> ApprovalLink:
    link = (
        ApprovalLink.objects.select_related("repair_order", "repair_order__site")
        .filter(token=token or "")
        .first()
    )
    if link is None or not secrets.compare_digest(link.token, token or ""):
        raise NotFoundError(_("This link is not valid."))
    return link


def approval_link_answer(
    *, token: str, answers: Iterable[Mapping[str, Any]], customer_name: str = ""
) -> Approval:
    """The customer answers from the private link (no login). Refused when the link expired,
    was answered already, or the estimate changed since it was sent."""
    link = approval_link_get(token=token)
    with transaction.atomic():
        ro = lock(RepairOrder, link.repair_order_id)
        link = ApprovalLink.objects.select_for_update().get(pk=link.pk)
        if link.answered_at is not None:
            raise ConflictError(_("This link has already been answered. Thank you!"))
        if link.expires_at <= timezone.now():
            raise ConflictError(
                _("This link has expired. Please call your service advisor."),
                extra={"expired": True},
            )
        return _answer(
            ro,
            actor=None,
            customer_name=customer_name,
            channel=ApprovalChannel.LINK,
            answers=answers,
            estimate_version=link.estimate_version,
            link=link,
        )


def approval_answer_by_customer(
    *,
    repair_order_id,
    answers: Iterable[Mapping[str, Any]],
    estimate_version: int,
    customer_name: str = "",
    via: str = "",
) -> Approval:
    """The customer answers the proposed lines from their own page (no login): the same rules
    as an answer given to the advisor, by the private-link channel, on the version they saw.
    `via` names the page or link it came through (kept on the answer's note)."""
    with transaction.atomic():
        try:
            ro = lock(RepairOrder, repair_order_id)
        except (RepairOrder.DoesNotExist, ValueError, TypeError):
            raise NotFoundError(_("No such repair order.")) from None
        return _answer(
            ro,
            actor=None,
            customer_name=customer_name,
            channel=ApprovalChannel.LINK,
            answers=answers,
            estimate_version=estimate_version,
            note=via,
        )
