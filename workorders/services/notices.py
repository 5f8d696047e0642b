"""Messages to the customer from the RO page: the approval link, the delay notice and the ready
notice, each sent once (by the customer's preferred allowed channel through messaging)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from dms import audit
from dms.exceptions import ApplicationError, ConflictError

from .. import hooks
from ..models import (
    JobLine,
    RepairOrder,
)
from .approvals import _link_for
from .common import ADVISOR, S, _conflict, _lock_ro

RO_MESSAGE_KINDS = ("additional_work", "delay_notice", "car_ready")


def ro_message_send(*, repair_order_id, actor, kind: str):
    """One click on the RO page: the approval link, the delay notice (with the promised time) or
    the ready notice, through the customer's preferred allowed channel. The same notice for the
    same estimate version / promised time is sent once; the message and its delivery state show
    on the RO (and the send in its history)."""
    from django.conf import settings
    from django.urls import reverse

    from messaging.models import OutboundMessage
    from messaging.services import message_send

    if kind not in RO_MESSAGE_KINDS:
        raise ApplicationError(_("Unknown message."), fields={"kind": _("Choose a message.")})
    with transaction.atomic():
        ro = _lock_ro(repair_order_id, actor, ADVISOR)
        context = {"plate": ro.vehicle.plate or ro.vehicle.vin}
        if kind == "additional_work":
            if not ro.lines.filter(approval=JobLine.Approval.PROPOSED).exists():
                raise ApplicationError(_("There is no proposed line to ask the customer about."))
            # the customer's status page where an app provides one (the customer pages),
            # else the RO's own approval link
            context["link"] = hooks.approval_page_url(ro)
            if not context["link"]:
                link = _link_for(ro, actor)
                context["link"] = settings.DMS_PUBLIC_BASE_URL.rstrip("/") + reverse(
                    "workorders:approval_link", kwargs={"token": link.token}
                )
            key = f"ro:{ro.pk}:additional_work:v{ro.estimate_version}"
        elif kind == "delay_notice":
            if ro.promised_at is None:
                raise ApplicationError(_("Set the new promised time first."))
            local = timezone.localtime(ro.promised_at, ro.site.tzinfo)
            context["promised"] = local.strftime("%m-%d %H:%M")
            key = f"ro:{ro.pk}:delay_notice:{local.strftime('%Y%m%d%H%M')}"
        else:
            if ro.status not in (S.READY, S.INVOICED):
                raise _conflict(ro, _("tell the customer the car is ready"))
            key = f"ro:{ro.pk}:car_ready"
        if OutboundMessage.objects.filter(site=ro.site, kind=kind, source_key=key).exists():
            raise ConflictError(
                _("This message was already sent; its delivery state is shown on the RO.")
            )
        message = message_send(
            site=ro.site, kind=kind, context=context, customer=ro.customer, source_key=key
        )
        audit.record(
            subject=ro,
            action="message_sent",
            actor=actor,
            note=f"{message.get_kind_display()} → {message.get_channel_display()} {message.to}",
            data={"message_id": message.pk, "kind": kind, "channel": message.channel},
        )
    return message


def ro_message_state_recorded(*, message) -> None:
    """A message sent for an RO (key "ro:<id>:…") was delivered or failed: the RO's history
    says so (the messaging layer tells through its signals)."""
    parts = (message.source_key or "").split(":")
    if len(parts) < 3 or parts[0] != "ro" or not parts[1].isdigit():
        return
    ro = RepairOrder.objects.filter(pk=int(parts[1]), site_id=message.site_id).first()
    if ro is None:
        return
    delivered = message.status == "delivered"
    audit.record(
        subject=ro,
        action="message_delivered" if delivered else "message_failed",
        note=f"{message.get_kind_display()} → {message.get_channel_display()} {message.to}"
        + ("" if delivered else f" ({message.error or message.error_code})"),
        data={"message_id": message.pk, "kind": message.kind, "status": message.status},
    )
