from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AppointmentsConfig(AppConfig):
    name = "appointments"
    verbose_name = _("Appointments")

    def ready(self) -> None:
        from messaging.signals import reply_received

        reply_received.connect(_on_reply, dispatch_uid="appointments.reminder_reply")

        from outreach.signals import task_copied

        task_copied.connect(_link_copy, dispatch_uid="appointments.task_copied")

        from outreach.webhooks import register_subject

        from .models import Appointment

        register_subject(Appointment, "appointment")  # its audit entries: webhook events

        from messaging.services import register_preview_source

        register_preview_source(_preview_values)


def _preview_values(*, site, kind: str, customer) -> dict:
    """A template preview's values from the customer's next appointment."""
    from django.utils import timezone

    from .models import ACTIVE_STATUSES, Appointment

    appointment = (
        Appointment.objects.filter(
            site=site, customer=customer, status__in=ACTIVE_STATUSES, start__gte=timezone.now()
        )
        .select_related("vehicle")
        .order_by("start")
        .first()
    )
    if appointment is None:
        return {}
    return {
        "start": timezone.localtime(appointment.start, site.tzinfo).strftime("%m-%d %H:%M"),
        "plate": appointment.vehicle.plate or appointment.vehicle.vin,
    }


def _on_reply(sender, message, customer, text, choice, **kwargs):
    """A "1/2/3" reply to a reminder's message answers the reminder."""
    if message is None or not choice:
        return None
    from outreach.backends import task_id_of
    from outreach.models import CallTask, TaskKind

    task_id = task_id_of(message.source_key)
    task = (
        CallTask.objects.filter(
            pk=task_id,
            kind__in=[TaskKind.REMINDER_DAY_BEFORE, TaskKind.REMINDER_SOON],
            appointment_link__isnull=False,
        )
        .select_related("appointment_link")
        .first()
        if task_id
        else None
    )
    if task is None:
        return None
    from .services import appointment_reply

    return appointment_reply(
        appointment_id=task.appointment_link.appointment_id,
        task_id=task.pk,
        choice=choice,
        text=text,
    )


def _link_copy(sender, original, copy, **kwargs):
    """A task made from another one is about the same appointment."""
    from .models import appointment_of
    from .services import task_link

    appointment = appointment_of(original)
    if appointment is not None:
        task_link(task=copy, appointment=appointment)
