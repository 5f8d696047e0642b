from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WorkordersConfig(AppConfig):
    name = "workorders"
    verbose_name = _("Repair orders")

    def ready(self) -> None:
        from appointments import hooks
        from customers import history
        from dms.media import register_owner
        from dms.models import Role

        from .models import Approval, JobLine, Photo, RepairOrder, SignedDocument
        from .selectors import (
            open_repair_orders_by_customer,
            visits_and_spend,
            with_service_history,
        )
        from .services import repair_order_open_for_appointment

        # photos, signatures and signed documents: for the staff of the RO's site
        staff = tuple(Role.values)
        register_owner(Photo, "image", site_path="repair_order__site", roles=staff)
        register_owner(Approval, "signature", site_path="repair_order__site", roles=staff)
        register_owner(SignedDocument, "file", site_path="repair_order__site", roles=staff)
        # what the customer archive shows of the repair orders
        history.register("open_repair_orders", open_repair_orders_by_customer)
        history.register("visits_and_spend", visits_and_spend)
        history.register("service_history", with_service_history)
        history.register_choices("repair_order_status", RepairOrder.status.field.choices)
        history.register_choices("job_line_approval", JobLine.approval.field.choices)
        # checking in an appointment opens (or returns) its repair order
        hooks.on_arrival(repair_order_open_for_appointment)

        from messaging.services import register_preview_source

        register_preview_source(_preview_values)

        from messaging.signals import message_delivered, message_failed

        message_delivered.connect(_message_state, dispatch_uid="workorders.message_delivered")
        message_failed.connect(_message_state, dispatch_uid="workorders.message_failed")

        from outreach.signals import task_copied

        task_copied.connect(_link_copy, dispatch_uid="workorders.task_copied")

        from outreach.webhooks import register_subject

        register_subject(RepairOrder, "repair_order")  # its audit entries: webhook events


def _link_copy(sender, original, copy, **kwargs):
    """A task made from another one is about the same repair order."""
    from .models import repair_order_of
    from .services import task_link

    ro = repair_order_of(original)
    if ro is not None:
        task_link(task=copy, repair_order=ro)


def _message_state(sender, message, **kwargs):
    from .services import ro_message_state_recorded

    ro_message_state_recorded(message=message)


def _preview_values(*, site, kind: str, customer) -> dict:
    """A template preview's values from the customer's latest repair order."""
    from django.conf import settings
    from django.utils import timezone

    from .models import RepairOrder

    ro = (
        RepairOrder.objects.filter(site=site, customer=customer)
        .select_related("vehicle")
        .order_by("-id")
        .first()
    )
    if ro is None:
        return {}
    values = {"plate": ro.vehicle.plate or ro.vehicle.vin}
    if ro.promised_at:
        values["promised"] = timezone.localtime(ro.promised_at, site.tzinfo).strftime("%m-%d %H:%M")
    link = ro.approval_links.order_by("-id").first()
    base = settings.DMS_PUBLIC_BASE_URL.rstrip("/")
    values["link"] = f"{base}/ro/a/{link.token}/" if link else f"{base}/ro/a/…/"
    return values
