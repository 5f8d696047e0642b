from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OutreachConfig(AppConfig):
    name = "outreach"
    verbose_name = _("Follow-up and outreach")

    def ready(self) -> None:
        from customers import history
        from dms import audit
        from messaging.services import register_contact_window
        from messaging.signals import message_failed

        from .models import CallTask
        from .services import message_contact_time
        from .webhooks import events_publish, events_publish_many

        # every audited change after commit: the webhooks of the sites that subscribed
        audit.subscribe(events_publish, many=events_publish_many)
        # messages to customers obey the same contact window as the tasks
        register_contact_window(message_contact_time)
        # a task's message that failed for good goes by another channel or becomes a call
        message_failed.connect(_on_message_failed, dispatch_uid="followups.message_failed")
        # the archive's API shows the follow-up call of each visit with its status
        history.register_choices("call_task_status", CallTask.status.field.choices)


def _on_message_failed(sender, message, **kwargs):
    from .services import task_message_failed

    return task_message_failed(message=message)
