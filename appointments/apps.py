from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AppointmentsConfig(AppConfig):
    name = "appointments"
    verbose_name = _("Appointments")

    def ready(self) -> None:
        from messaging.signals import reply_received

        reply_received.connect(_on_reply, dispatch_uid="appointments.reminder_reply")


def _on_reply(sender, message, customer, text, choice, **kwargs):
    """A "1/2/3" reply to a reminder's message answers the reminder."""
    if message is None or not choice:
        return None
    from followups.backends import task_id_of
    from followups.models import CallTask, TaskKind

    task_id = task_id_of(message.source_key)
    task = (
        CallTask.objects.filter(
            pk=task_id,
            kind__in=[TaskKind.REMINDER_DAY_BEFORE, TaskKind.REMINDER_SOON],
            appointment__isnull=False,
        ).first()
        if task_id
        else None
    )
    if task is None:
        return None
    from .services import appointment_reply

    return appointment_reply(
        appointment_id=task.appointment_id, task_id=task.pk, choice=choice, text=text
    )
